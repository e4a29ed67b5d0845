//! Plan reports: for a terminal, JSON for tools, Markdown for a pull-request
//! comment, DOT for a picture of the graph.

use crate::plan::{Plan, PlannedStep, Status, TextChange};
use std::fmt::Write;

/// The most characters of an instruction a row shows.
const INSTRUCTION_WIDTH: usize = 80;

/// A step's instruction in at most [`INSTRUCTION_WIDTH`] characters. A cut never hides
/// what changed since the step's last build: the row shows the region around the first
/// changed word, with `…` where text is left out (the instruction's name stays), and an
/// instruction that changed where the row cannot point is not cut at all.
pub fn shown(step: &PlannedStep) -> String {
    let text = &step.summary;
    let chars: Vec<char> = text.chars().collect();
    let width = INSTRUCTION_WIDTH;
    if chars.len() <= width {
        return text.clone();
    }
    let changed = match &step.change {
        TextChange::Elsewhere => return text.clone(),
        TextChange::Same => 0..0,
        TextChange::At(r) => text[..r.start].chars().count()..text[..r.end].chars().count(),
    };
    let cut = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    // Context kept before the change.
    let lead = width / 4;
    let from = changed.start.saturating_sub(lead);
    let name: String = chars.iter().take_while(|c| !c.is_whitespace()).collect();
    let prefix = if name.chars().count() < lead {
        format!("{name} … ")
    } else {
        "… ".to_string()
    };
    if changed.end < width || from <= prefix.chars().count() {
        // After the last whole word that fits.
        return match (changed.end.max(1)..=width - 2).rev().find(|&i| chars[i] == ' ') {
            Some(space) => format!("{} …", cut(0, space)),
            None => format!("{}…", cut(0, width - 1)),
        };
    }
    let room = width - prefix.chars().count();
    // Windows start at a word (when one starts before the change) and end after one.
    let word_start = |from: usize| {
        (from..changed.start)
            .find(|&i| i > 0 && chars[i - 1] == ' ')
            .unwrap_or(from)
    };
    let from = word_start(from.min(chars.len() - room));
    if from + room >= chars.len() {
        return format!("{prefix}{}", cut(from, chars.len()));
    }
    // Room for ` …` after it.
    let mut to = from + room - 2;
    if let Some(space) = (changed.end.max(from + 1)..=to).rev().find(|&i| chars[i] == ' ') {
        to = space;
    }
    format!("{prefix}{} …", cut(from, to))
}

/// A readable report: a header row, one line per step, reasons under each miss.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let width = plan.steps.iter().map(|s| s.stage.len()).max().unwrap_or(5).max(5);
    let _ = writeln!(out, "STATUS   {:<width$}  LINE  CACHE KEY     INSTRUCTION", "STAGE");
    for s in &plan.steps {
        let mark = match s.status {
            Status::Hit => "cached ",
            Status::Miss => "rebuild",
        };
        let _ = writeln!(
            out,
            "{mark}  {:<width$}  {:>4}  {}  {}",
            s.stage,
            s.line,
            short_key(&s.cache_key),
            shown(s)
        );
        if s.status == Status::Miss {
            for r in &s.reasons {
                let _ = writeln!(out, "{:w$}↳ {r}", "", w = 9 + width + 2 + 4 + 2 + 12 + 2);
            }
            if let Some(p) = &s.emulated {
                let _ = writeln!(
                    out,
                    "{:w$}↳ runs under emulation ({p} on {}): commonly 10-20x slower",
                    "",
                    slipway_store::platform::Platform::host(),
                    w = 9 + width + 2 + 4 + 2 + 12 + 2
                );
            }
        }
    }
    let _ = write!(
        out,
        "\n{} steps: {} cached, {} to rebuild (target {}",
        plan.summary.steps, plan.summary.hits, plan.summary.misses, plan.summary.target
    );
    if let Some(p) = &plan.summary.platform {
        let _ = write!(out, ", for {p}");
    }
    let _ = writeln!(out, ")");
    if plan.summary.emulated > 0 {
        let _ = writeln!(
            out,
            "{} RUN step(s) to rebuild run under emulation: pin the stages that only produce files (compilers, downloads) with FROM --platform=$BUILDPLATFORM and cross-compile for $TARGETARCH",
            plan.summary.emulated
        );
    }
    out
}

fn short_key(k: &str) -> &str {
    &k[..k.len().min(12)]
}

/// The JSON report: `{"steps": [...], "summary": {...}}`.
pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A compact Markdown table for a PR comment; misses first in the summary line.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let icon = if plan.summary.misses == 0 { "✅" } else { "🔁" };
    let platform = plan
        .summary
        .platform
        .as_ref()
        .map_or_else(String::new, |p| format!(", for `{p}`"));
    let _ = writeln!(
        out,
        "{icon} **slipway plan** (target `{}`{platform}): {} of {} steps cached, **{} to rebuild**\n",
        plan.summary.target, plan.summary.hits, plan.summary.steps, plan.summary.misses
    );
    if plan.summary.emulated > 0 {
        let _ = writeln!(
            out,
            "⚠️ {} RUN step(s) to rebuild run under emulation (commonly 10-20x slower)\n",
            plan.summary.emulated
        );
    }
    let _ = writeln!(out, "| | stage | line | instruction | why it rebuilds |");
    let _ = writeln!(out, "|---|---|---:|---|---|");
    for s in &plan.steps {
        let (mark, why) = match s.status {
            Status::Hit => ("✅", String::new()),
            Status::Miss => {
                let mut why = s.reasons.join("; ");
                if let Some(p) = &s.emulated {
                    why.push_str(&format!(
                        "{}under emulation ({p})",
                        if why.is_empty() { "" } else { "; " }
                    ));
                }
                ("🔁", why)
            }
        };
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {} | `{}` | {} |",
            s.stage,
            s.line,
            cell(&shown(s)),
            cell(&why)
        );
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// The graph in Graphviz DOT, one cluster per stage, misses in red.
pub fn dot(plan: &Plan) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut stages: Vec<&str> = plan.steps.iter().map(|s| s.stage.as_str()).collect();
    stages.dedup();
    let mut seen = std::collections::BTreeSet::new();
    for stage in stages {
        if !seen.insert(stage) {
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph \"cluster_{}\" {{\n    label=\"{}\";",
            esc(stage),
            esc(stage)
        );
        for s in plan.steps.iter().filter(|s| s.stage == stage) {
            let (color, tip) = match s.status {
                Status::Hit => ("palegreen", "cached".to_string()),
                Status::Miss => ("lightcoral", s.reasons.join("\n")),
            };
            let _ = writeln!(
                out,
                "    s{} [label=\"{}: {}\", style=filled, fillcolor={color}, tooltip=\"{}\"];",
                s.id,
                s.line,
                esc(&shown(s)),
                esc(&tip)
            );
        }
        out.push_str("  }\n");
    }
    for s in &plan.steps {
        for d in &s.depends_on {
            let _ = writeln!(out, "  s{d} -> s{};", s.id);
        }
    }
    out.push_str("}\n");
    out
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::shown;
    use crate::plan::{PlannedStep, Status, TextChange};

    /// A step whose instruction is `text`, changed at the first `marker` when given.
    fn step(text: &str, change: Option<&str>) -> PlannedStep {
        let change = match change {
            Some("?") => TextChange::Elsewhere,
            Some(m) => {
                let at = text.find(m).unwrap();
                TextChange::At(at..at + m.len())
            }
            None => TextChange::Same,
        };
        PlannedStep {
            id: 0,
            stage: "0".into(),
            line: 1,
            instruction: text.into(),
            cache_key: String::new(),
            status: Status::Miss,
            reasons: Vec::new(),
            errors: Vec::new(),
            depends_on: Vec::new(),
            emulated: None,
            summary: text.into(),
            change,
            kind: None,
            inputs: Default::default(),
            step_identity: String::new(),
        }
    }

    fn check(text: &str, change: Option<&str>, expect: expect_test::Expect) {
        let s = shown(&step(text, change));
        assert!(s.chars().count() <= 80 || change == Some("?"), "{s}");
        expect.assert_eq(&s);
    }

    const LONG: &str = "RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates curl git libssl-dev pkg-config zlib1g-dev && rm -rf /var/lib/apt/lists/*";

    #[test]
    fn short_instructions_are_never_cut() {
        check("COPY a /a", Some("/a"), expect_test::expect!["COPY a /a"]);
    }

    #[test]
    fn an_unchanged_instruction_is_cut_at_the_end() {
        check(
            LONG,
            None,
            expect_test::expect!["RUN apt-get update && apt-get install -y --no-install-recommends …"],
        );
    }

    #[test]
    fn a_change_in_the_head_keeps_the_head() {
        check(
            LONG,
            Some("--no-install-recommends"),
            expect_test::expect!["RUN apt-get update && apt-get install -y --no-install-recommends …"],
        );
    }

    #[test]
    fn a_change_in_the_middle_shows_the_region_around_it() {
        let longer = format!("{LONG} && useradd --system --create-home --shell /bin/bash app && chown -R app /srv/app");
        check(
            &longer,
            Some("libssl-dev"),
            expect_test::expect!["RUN … curl git libssl-dev pkg-config zlib1g-dev && rm -rf /var/lib/apt/lists/* …"],
        );
    }

    #[test]
    fn a_change_at_the_end_shows_the_tail() {
        check(
            LONG,
            Some("/var/lib/apt/lists/*"),
            expect_test::expect!["RUN … curl git libssl-dev pkg-config zlib1g-dev && rm -rf /var/lib/apt/lists/*"],
        );
    }

    #[test]
    fn a_change_the_line_cannot_show_leaves_it_whole() {
        check(
            LONG,
            Some("?"),
            expect_test::expect![[
                r#"RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates curl git libssl-dev pkg-config zlib1g-dev && rm -rf /var/lib/apt/lists/*"#
            ]],
        );
    }
}

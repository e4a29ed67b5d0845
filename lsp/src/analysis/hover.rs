//! Hovers: instruction and flag docs, `--mount` keys, variable values with
//! where they were set, stage summaries, base-image facts and cache status.

use super::docs;
use super::{Analysis, Target, World};
use slipway_parser::flags::flags_of;
use slipway_parser::model::{Base, VarKind, PREDEFINED_ARGS};
use slipway_parser::syntax::{Keyword, Span};
use std::fmt::Write;

/// A hover: the range it is about and Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoverInfo {
    pub span: Span,
    pub markdown: String,
}

pub fn hover(a: &Analysis, offset: usize, world: &World<'_>) -> Option<HoverInfo> {
    if let Some(o) = a.occurrence_at(offset) {
        let markdown = match &o.target {
            Target::Var(_) | Target::Free(_) => variable(a, &o.target, o.def),
            Target::Stage(s) => stage(a, *s),
        };
        return Some(HoverInfo {
            span: o.full.clone(),
            markdown,
        });
    }
    for dir in &a.file.directives {
        if dir.span.start <= offset && offset <= dir.span.end {
            let (_, text) = docs::DIRECTIVES.iter().find(|(n, _)| *n == dir.name)?;
            return Some(HoverInfo {
                span: dir.span.clone(),
                markdown: format!("**# {}=** parser directive\n\n{text}", dir.name),
            });
        }
    }
    let i = a.instruction_at(offset)?;
    let outer = &a.file.instructions[i];
    let inst = if outer.name_span.contains(&offset) || outer.name_span.end == offset {
        outer
    } else {
        outer.effective()
    };
    if inst.name_span.start <= offset && offset <= inst.name_span.end {
        let kw = inst.keyword?;
        let doc = docs::instruction(kw);
        let mut md = format!("```dockerfile\n{}\n```\n{}", doc.syntax.join("\n"), doc.summary);
        if let Some(step) = world.steps.iter().find(|s| s.line == outer.start_line) {
            md.push_str("\n\n---\n");
            md.push_str(&step_status(step));
        }
        return Some(HoverInfo {
            span: inst.name_span.clone(),
            markdown: md,
        });
    }
    for flag in &inst.flags {
        if !(flag.span.start <= offset && offset <= flag.span.end) {
            continue;
        }
        let kw = inst.keyword?;
        if flag.name == "mount" {
            if let Some(h) = mount_key(a, flag, offset) {
                return Some(h);
            }
        }
        let spec = flags_of(kw).iter().find(|s| s.name == flag.name)?;
        return Some(HoverInfo {
            span: flag.span.clone(),
            markdown: format!("**--{}** ({kw})\n\n{}", spec.name, spec.doc),
        });
    }
    if inst.keyword == Some(Keyword::From) {
        let s = a.model.stage_of[i]?;
        let st = &a.model.stages[s];
        if st.base_span.start <= offset && offset <= st.base_span.end {
            let mut md = String::new();
            match &st.base {
                Base::Scratch => md.push_str("`scratch`: an empty base, no layers"),
                Base::Stage(b) => md = stage(a, *b),
                Base::Image(name) => md = image(name, world),
            }
            return Some(HoverInfo {
                span: st.base_span.clone(),
                markdown: md,
            });
        }
    }
    None
}

fn step_status(step: &super::StepStatus) -> String {
    if step.cached {
        "**cache:** hit (cached)".to_string()
    } else if step.reasons.is_empty() {
        "**cache:** rebuilds".to_string()
    } else {
        format!("**cache:** rebuilds: {}", step.reasons.join("; "))
    }
}

fn variable(a: &Analysis, target: &Target, def: bool) -> String {
    match target {
        Target::Var(d) => {
            let v = &a.model.vars[*d];
            let inst = &a.file.instructions[v.instruction];
            let kind = match v.kind {
                VarKind::MetaArg => "global ARG",
                VarKind::Arg => "ARG",
                VarKind::Env => "ENV",
            };
            let mut md = match &v.value {
                Some(val) => format!("**{}** = `{}`", v.name, val),
                None => format!("**{}** (no value)", v.name),
            };
            let line = a.line_of(v.span.start);
            let where_ = match v.stage.and_then(|s| a.model.stages.get(s)) {
                Some(st) => match &st.name {
                    Some(n) => format!(" in stage `{n}`"),
                    None => format!(" in stage {}", st.index),
                },
                None => String::new(),
            };
            let set = if def { "defined by" } else { "set by" };
            let _ = write!(
                md,
                "\n\n{set} {kind} on line {line}{where_}:\n```dockerfile\n{}\n```",
                inst.original.trim_end()
            );
            md
        }
        Target::Free(name) => {
            if PREDEFINED_ARGS.contains(&name.as_str()) {
                format!("**{name}**: predefined build argument (declare it with `ARG {name}` to use it in a stage)")
            } else {
                format!("**{name}**: not defined in this Dockerfile (from the base image or the shell)")
            }
        }
        Target::Stage(s) => stage(a, *s),
    }
}

fn stage(a: &Analysis, s: usize) -> String {
    let st = &a.model.stages[s];
    let from = &a.file.instructions[st.from];
    let last = st
        .instructions
        .last()
        .map_or(from.end_line, |&i| a.file.instructions[i].end_line);
    let name = st.name.clone().unwrap_or_else(|| format!("#{}", st.index));
    let base = match &st.base {
        Base::Scratch => "scratch".to_string(),
        Base::Stage(b) => format!(
            "stage `{}`",
            a.model.stages[*b].name.clone().unwrap_or_else(|| b.to_string())
        ),
        Base::Image(i) => format!("image `{i}`"),
    };
    let mut md = format!(
        "**stage {name}** (index {}), lines {}–{last}\n\nfrom {base}; {} instruction(s)",
        st.index,
        from.start_line,
        st.instructions.len()
    );
    if let Some(p) = &st.platform {
        let _ = write!(md, "; platform `{p}`");
    }
    if !st.depends_on.is_empty() {
        let deps: Vec<String> = st
            .depends_on
            .iter()
            .map(|&d| a.model.stages[d].name.clone().unwrap_or_else(|| d.to_string()))
            .collect();
        let _ = write!(md, "\n\nneeds: {}", deps.join(", "));
    }
    let users: Vec<String> = a
        .model
        .stages
        .iter()
        .filter(|o| o.depends_on.contains(&s))
        .map(|o| o.name.clone().unwrap_or_else(|| o.index.to_string()))
        .collect();
    if !users.is_empty() {
        let _ = write!(md, "\n\nused by: {}", users.join(", "));
    }
    md
}

fn image(name: &str, world: &World<'_>) -> String {
    let Some(info) = (world.image)(name) else {
        return format!("image `{name}`: not in the local store (`slipway image import` adds one)");
    };
    let mut md = format!(
        "**{}**\n\n| | |\n|---|---|\n| digest | `{}` |\n| size | {} |\n| layers | {} |\n| platform | {} |",
        info.reference,
        info.digest,
        human_size(info.size),
        info.layers,
        info.platform
    );
    if let Some(c) = &info.created {
        let _ = write!(md, "\n| created | {c} |");
    }
    if let Some(e) = &info.entrypoint {
        let _ = write!(md, "\n| entrypoint | `{}` |", e.join(" "));
    }
    if let Some(c) = &info.cmd {
        let _ = write!(md, "\n| cmd | `{}` |", c.join(" "));
    }
    for e in &info.env {
        let _ = write!(md, "\n| env | `{e}` |");
    }
    md
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The `--mount` key under the cursor.
fn mount_key(a: &Analysis, flag: &slipway_parser::syntax::Flag, offset: usize) -> Option<HoverInfo> {
    let vspan = flag.value_span.clone()?;
    if offset < vspan.start {
        return None;
    }
    let value = a.text.get(vspan.clone())?;
    let mut at = vspan.start;
    for field in value.split(',') {
        let end = at + field.len();
        if offset >= at && offset <= end {
            let key = field.split('=').next().unwrap_or_default();
            let (k, applies, text) = docs::MOUNT_KEYS.iter().find(|(k, _, _)| *k == key)?;
            let mut md = format!("**{k}** (`--mount` key; {applies})\n\n{text}");
            if let Some(v) = field.split_once('=').map(|(_, v)| v) {
                if *k == "type" {
                    let t = match v {
                        "bind" => {
                            "bind: a directory or file from the context, a stage or an image (read-only by default)"
                        }
                        "cache" => "cache: a persistent directory kept between builds (package caches)",
                        "tmpfs" => "tmpfs: an empty in-memory directory for this step",
                        "secret" => "secret: a file (or env var) with a secret, never stored in a layer",
                        "ssh" => "ssh: an agent socket forwarded from the client",
                        _ => "",
                    };
                    if !t.is_empty() {
                        let _ = write!(md, "\n\n{t}");
                    }
                }
            }
            return Some(HoverInfo {
                span: at..end,
                markdown: md,
            });
        }
        at = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{analyze, cursor};
    use super::super::{ImageInfo, StepStatus};
    use super::*;

    fn check(fixture: &str, expect: &[&str]) {
        let (text, at) = cursor(fixture);
        let a = analyze(&text);
        let image = |n: &str| {
            (n == "alpine:3.20").then(|| ImageInfo {
                reference: "docker.io/library/alpine:3.20".into(),
                digest: "sha256:abc".into(),
                size: 3 * 1024 * 1024,
                layers: 1,
                platform: "linux/amd64".into(),
                created: Some("2024-01-01T00:00:00Z".into()),
                env: vec!["PATH=/bin".into()],
                entrypoint: None,
                cmd: Some(vec!["/bin/sh".into()]),
            })
        };
        let steps = [StepStatus {
            line: 3,
            cached: false,
            reasons: vec!["ARG V changed 1 → 2".into()],
        }];
        let world = World {
            image: &image,
            steps: &steps,
            images: &[],
        };
        let h = hover(&a, at, &world).map(|h| h.markdown).unwrap_or_default();
        for e in expect {
            assert!(h.contains(e), "hover {h:?} lacks {e:?}");
        }
        if expect.is_empty() {
            assert_eq!(h, "");
        }
    }

    #[test]
    fn hovers() {
        check(
            "FR$0OM alpine\n",
            &["FROM [--platform=<platform>]", "Starts a build stage"],
        );
        check(
            "FROM alpine\nARG V=1\nR$0UN echo $V\n",
            &["RUN [--mount", "rebuilds: ARG V changed 1 → 2"],
        );
        check(
            "FROM alpine\nARG V=1\nRUN echo $$0V\n",
            &["**V** = `1`", "ARG on line 2", "ARG V=1"],
        );
        check(
            "ARG V=3.20\nFROM alpine:${V$0}\n",
            &["**V** = `3.20`", "global ARG on line 1"],
        );
        check(
            "FROM a AS b$0uild\nFROM build\nCOPY --from=build /a /b\n",
            &["stage build", "lines 1–1", "used by: 1"],
        );
        check(
            "FROM a\nRUN --mount=type=cache,sha$0ring=locked true\n",
            &["**sharing**", "locked"],
        );
        check("FROM a\nRUN --mount=ty$0pe=secret true\n", &["secret: a file"]);
        check("FROM a\nCOPY --li$0nk a b\n", &["**--link** (COPY)"]);
        check(
            "FROM alpi$0ne:3.20\n",
            &["sha256:abc", "3.0 MiB", "/bin/sh", "PATH=/bin"],
        );
        check("FROM debi$0an\n", &["not in the local store"]);
        check("# chec$0k=skip=all\nFROM a\n", &["parser directive"]);
        check("FROM a\nRUN echo $HO$0ME\n", &["not defined in this Dockerfile"]);
        check("FROM a\n\n$0\n", &[]);
        check("# é 🚀\nFROM a\nENV É=1 X=🚀\nRUN echo $$0X\n", &["`🚀`"]);
    }
}

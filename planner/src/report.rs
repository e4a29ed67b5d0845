//! Plan reports: for a terminal, JSON for tools, Markdown for a pull-request
//! comment, DOT for a picture of the graph.

use crate::plan::{Plan, Status};
use std::fmt::Write;

/// A readable report: one line per step, reasons under each miss.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let width = plan.steps.iter().map(|s| s.stage.len()).max().unwrap_or(5).max(5);
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
            s.instruction
        );
        if s.status == Status::Miss {
            for r in &s.reasons {
                let _ = writeln!(out, "{:w$}↳ {r}", "", w = 9 + width + 2 + 4 + 2 + 12 + 2);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} steps: {} cached, {} to rebuild (target {})",
        plan.summary.steps, plan.summary.hits, plan.summary.misses, plan.summary.target
    );
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
    let _ = writeln!(
        out,
        "{icon} **slipway plan** (target `{}`): {} of {} steps cached, **{} to rebuild**\n",
        plan.summary.target, plan.summary.hits, plan.summary.steps, plan.summary.misses
    );
    let _ = writeln!(out, "| | stage | line | instruction | why it rebuilds |");
    let _ = writeln!(out, "|---|---|---:|---|---|");
    for s in &plan.steps {
        let (mark, why) = match s.status {
            Status::Hit => ("✅", String::new()),
            Status::Miss => ("🔁", s.reasons.join("; ")),
        };
        let _ = writeln!(
            out,
            "| {mark} | `{}` | {} | `{}` | {} |",
            s.stage,
            s.line,
            cell(&s.instruction),
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
                esc(&s.instruction),
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

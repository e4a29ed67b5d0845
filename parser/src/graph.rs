//! The step graph: one node per step that produces a filesystem state (a
//! stage's base, RUN, COPY, ADD, WORKDIR), edges from what a step needs to
//! the step: its parent in the stage, the stage a `FROM <stage>` starts from,
//! `COPY --from=<stage>` and `RUN --mount=from=<stage>`. Config-only
//! instructions (ENV, ARG, LABEL, USER, CMD, …) are folded into the next step
//! of their stage (they change what it sees), or into the stage's image config.

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Phase};
use crate::model::{Base, Command, Model};
use crate::syntax::{Dockerfile, Keyword, Span};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The stage's FROM: an image, `scratch`, or another stage.
    Base,
    Run,
    Copy,
    Add,
    Workdir,
}

/// A node of the graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub kind: StepKind,
    pub stage: usize,
    /// The instruction that makes this step (the FROM for a base).
    pub instruction: usize,
    /// Config-only instructions of the stage between the previous step and this one.
    pub config: Vec<usize>,
}

/// Why one step needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    /// The previous step of the same stage.
    Parent,
    /// `FROM <stage>`.
    BaseStage,
    /// `COPY --from=<stage>` (or ADD).
    CopyFrom,
    /// `RUN --mount=from=<stage>`.
    MountFrom,
}

/// The steps of a build and what each needs.
#[derive(Debug, Clone)]
pub struct StepGraph {
    pub graph: DiGraph<Step, Edge>,
    /// The last step of each stage (`None` for stages pruned by `--target`).
    pub stage_last: Vec<Option<NodeIndex>>,
    /// Config-only instructions after a stage's last step (they shape the image config).
    pub stage_tail: Vec<Vec<usize>>,
    /// The stage being built.
    pub target: usize,
}

impl StepGraph {
    /// Steps in dependency order, grouped so that the steps of one group may
    /// run in parallel (every step's needs are in earlier groups).
    pub fn levels(&self) -> Vec<Vec<NodeIndex>> {
        let n = self.graph.node_count();
        let mut indegree: Vec<usize> = (0..n)
            .map(|i| {
                self.graph
                    .edges_directed(NodeIndex::new(i), Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: Vec<NodeIndex> = (0..n)
            .map(NodeIndex::new)
            .filter(|&i| indegree[i.index()] == 0)
            .collect();
        let mut levels = Vec::new();
        let mut seen = 0;
        while !ready.is_empty() {
            ready.sort();
            seen += ready.len();
            let mut next = Vec::new();
            for &node in &ready {
                for e in self.graph.edges_directed(node, Direction::Outgoing) {
                    let t = e.target().index();
                    indegree[t] -= 1;
                    if indegree[t] == 0 {
                        next.push(e.target());
                    }
                }
            }
            levels.push(std::mem::replace(&mut ready, next));
        }
        debug_assert_eq!(seen, n, "the graph is acyclic by construction");
        levels
    }

    /// The steps a step directly needs, with why: its parent first.
    pub fn needs(&self, step: NodeIndex) -> Vec<(NodeIndex, Edge)> {
        let mut v: Vec<_> = self
            .graph
            .edges_directed(step, Direction::Incoming)
            .map(|e| (e.source(), *e.weight()))
            .collect();
        v.sort_by_key(|&(n, e)| (e, n));
        v
    }
}

/// What went wrong building the graph.
pub type GraphError = Box<Diagnostic>;

/// Builds the step graph for `target` (a stage name or index; default the
/// last stage), keeping only the stages the target needs.
pub fn build(
    file: &Dockerfile,
    model: &Model,
    target: Option<&str>,
    target_span: Span,
) -> Result<StepGraph, GraphError> {
    if model.stages.is_empty() {
        return Err(Box::new(
            Diagnostic::error(
                codes::NO_STAGE,
                Phase::Build,
                target_span,
                "dockerfile contains no stages to build",
            )
            .with_help("add a FROM instruction"),
        ));
    }
    let target = match target {
        None => model.stages.len() - 1,
        Some(t) => model.stage_by_ref(t).ok_or_else(|| {
            let names: Vec<&str> = model.stages.iter().filter_map(|s| s.name.as_deref()).collect();
            let mut d = Diagnostic::error(
                codes::UNKNOWN_TARGET,
                Phase::Build,
                target_span.clone(),
                format!("target stage {} could not be found", crate::buildkit::go_quote(t)),
            );
            d = match did_you_mean(t, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean {s}?")),
                None => d.with_help(format!("stages are: {}", names.join(", "))),
            };
            Box::new(d)
        })?,
    };

    // Which stages does the target need? Walk dependencies (stage level).
    let mut needed = vec![false; model.stages.len()];
    let mut stack = vec![target];
    while let Some(s) = stack.pop() {
        if std::mem::replace(&mut needed[s], true) {
            continue;
        }
        stack.extend(model.stages[s].depends_on.iter().copied().filter(|&d| d != s));
        if let Base::Stage(b) = model.stages[s].base {
            stack.push(b);
        }
    }
    // A cycle among needed stages (mounts may point forward) cannot be built.
    if let Some(cycle) = find_cycle(model, &needed) {
        let s = &model.stages[cycle];
        let name = s.name.clone().unwrap_or_else(|| cycle.to_string());
        return Err(Box::new(
            Diagnostic::error(
                codes::CIRCULAR_DEPENDENCY,
                Phase::Build,
                file.instructions[s.from].span.clone(),
                format!("circular dependency detected on stage: {name}"),
            )
            .with_label("this stage depends on itself through other stages")
            .with_help("break the cycle: a stage can only use stages that do not use it"),
        ));
    }

    let mut graph = DiGraph::new();
    let mut stage_last = vec![None; model.stages.len()];
    let mut stage_tail = vec![Vec::new(); model.stages.len()];
    // Stages in file order; dependencies on earlier stages are resolved as we go,
    // forward references (mounts) are linked afterwards.
    let mut pending: Vec<(NodeIndex, usize, Edge)> = Vec::new();
    for (si, stage) in model.stages.iter().enumerate() {
        if !needed[si] {
            continue;
        }
        let base = graph.add_node(Step {
            kind: StepKind::Base,
            stage: si,
            instruction: stage.from,
            config: Vec::new(),
        });
        if let Base::Stage(b) = stage.base {
            pending.push((base, b, Edge::BaseStage));
        }
        let mut last = base;
        let mut config = Vec::new();
        for &i in &stage.instructions {
            let inst = &file.instructions[i];
            let kind = match inst.keyword {
                Some(Keyword::Run) => StepKind::Run,
                Some(Keyword::Copy) => StepKind::Copy,
                Some(Keyword::Add) => StepKind::Add,
                Some(Keyword::Workdir) => StepKind::Workdir,
                _ => {
                    config.push(i);
                    continue;
                }
            };
            let node = graph.add_node(Step {
                kind,
                stage: si,
                instruction: i,
                config: std::mem::take(&mut config),
            });
            graph.add_edge(last, node, Edge::Parent);
            match model.commands.get(i).and_then(Option::as_ref) {
                Some(Command::Copy(c) | Command::Add(c)) => {
                    if let Some(from) = c.from.as_deref().and_then(|f| model.stage_by_ref(f)) {
                        pending.push((node, from, Edge::CopyFrom));
                    }
                }
                Some(Command::Run { mounts, .. }) => {
                    for m in mounts {
                        if let Some(from) = m.from.as_deref().and_then(|f| model.stage_by_ref(f)) {
                            pending.push((node, from, Edge::MountFrom));
                        }
                    }
                }
                _ => {}
            }
            last = node;
        }
        stage_last[si] = Some(last);
        stage_tail[si] = config;
    }
    for (node, from, edge) in pending {
        if let Some(src) = stage_last[from] {
            if src != node && !graph.contains_edge(src, node) {
                graph.add_edge(src, node, edge);
            }
        }
    }
    Ok(StepGraph {
        graph,
        stage_last,
        stage_tail,
        target,
    })
}

/// A stage on a dependency cycle among the needed stages, if any.
fn find_cycle(model: &Model, needed: &[bool]) -> Option<usize> {
    // Colours: 0 unvisited, 1 on the stack, 2 done. Iterative DFS.
    let deps = |s: usize| -> Vec<usize> {
        let mut d: Vec<usize> = model.stages[s].depends_on.iter().copied().collect();
        if let Base::Stage(b) = model.stages[s].base {
            d.push(b);
        }
        d
    };
    let mut colour = vec![0u8; model.stages.len()];
    for start in (0..model.stages.len()).filter(|&s| needed[s]) {
        if colour[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, deps(start), 0usize)];
        colour[start] = 1;
        while let Some((s, ds, k)) = stack.last_mut() {
            if *k < ds.len() {
                let d = ds[*k];
                *k += 1;
                match colour[d] {
                    1 => return Some(d),
                    0 => {
                        colour[d] = 1;
                        let dd = deps(d);
                        stack.push((d, dd, 0));
                    }
                    _ => {}
                }
            } else {
                colour[*s] = 2;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckOptions;

    fn graph(src: &str, target: Option<&str>) -> (Dockerfile, Result<StepGraph, GraphError>) {
        let parsed = crate::parse(src);
        let model = crate::model::analyze(src, &parsed.file, &CheckOptions::default());
        let g = build(&parsed.file, &model, target, 0..0);
        (parsed.file, g)
    }

    fn describe(file: &Dockerfile, g: &StepGraph, n: NodeIndex) -> String {
        let s = &g.graph[n];
        format!("{}:{}", s.stage, file.instructions[s.instruction].name)
    }

    #[test]
    fn stages_chain_and_fold_config() {
        let src = "FROM alpine AS build\nENV A=1\nRUN make\nWORKDIR /out\nCOPY . .\nCMD [\"x\"]\n";
        let (file, g) = graph(src, None);
        let g = g.unwrap();
        assert_eq!(g.graph.node_count(), 4);
        let levels: Vec<Vec<String>> = g
            .levels()
            .iter()
            .map(|l| l.iter().map(|&n| describe(&file, &g, n)).collect())
            .collect();
        assert_eq!(levels, [["0:FROM"], ["0:RUN"], ["0:WORKDIR"], ["0:COPY"]]);
        let run = g.levels()[1][0];
        assert_eq!(g.graph[run].config, vec![1]);
        assert_eq!(g.stage_tail[0], vec![5]);
    }

    #[test]
    fn independent_stages_share_a_level_and_target_prunes() {
        let src = "FROM alpine AS a\nRUN a\nFROM alpine AS b\nRUN b\nFROM alpine AS unused\nRUN u\nFROM scratch\nCOPY --from=a /x /x\nCOPY --from=b /y /y\n";
        let (file, g) = graph(src, None);
        let g = g.unwrap();
        // The unused stage is pruned.
        assert!(g.stage_last[2].is_none());
        let levels: Vec<Vec<String>> = g
            .levels()
            .iter()
            .map(|l| l.iter().map(|&n| describe(&file, &g, n)).collect())
            .collect();
        assert_eq!(levels[0], ["0:FROM", "1:FROM", "3:FROM"]);
        assert_eq!(levels[1], ["0:RUN", "1:RUN"]);
        let copy_a = g
            .graph
            .node_indices()
            .find(|&n| describe(&file, &g, n) == "3:COPY")
            .unwrap();
        let needs: Vec<Edge> = g.needs(copy_a).into_iter().map(|(_, e)| e).collect();
        assert_eq!(needs, [Edge::Parent, Edge::CopyFrom]);
        // --target b keeps only b.
        let (_, g) = graph(src, Some("b"));
        let g = g.unwrap();
        assert_eq!(g.graph.node_count(), 2);
        assert_eq!(g.target, 1);
    }

    #[test]
    fn unknown_target_suggests_a_stage() {
        let (_, g) = graph("FROM alpine AS build\n", Some("biuld"));
        let e = g.unwrap_err();
        assert_eq!(e.message, "target stage \"biuld\" could not be found");
        assert_eq!(e.help.as_deref(), Some("did you mean build?"));
    }

    #[test]
    fn mount_cycles_are_errors() {
        let (_, g) = graph("FROM alpine AS a\nRUN --mount=from=b,target=/b true\nFROM alpine AS b\nRUN --mount=from=a,target=/a true\n", None);
        assert!(g
            .unwrap_err()
            .message
            .starts_with("circular dependency detected on stage"));
    }
}

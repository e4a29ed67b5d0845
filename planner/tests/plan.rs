//! Cache keys and miss reasons, against cache records written as a build would.

use slipway_parser::{graph, model, parse, CheckOptions};
use slipway_planner::plan::{plan, record, Plan, PlanOptions, Sources, Status};
use slipway_store::Store;
use std::collections::BTreeMap;

/// A build context as a map of path → entry digest.
struct Files(BTreeMap<String, String>);

impl Sources for Files {
    fn select(
        &self,
        sources: &[String],
        _excludes: &[String],
        _parents: bool,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out = Vec::new();
        for s in sources {
            let s = s.trim_start_matches("./").trim_start_matches('/');
            let hits: Vec<_> = self
                .0
                .iter()
                .filter(|(p, _)| s == "." || *p == s || p.starts_with(&format!("{s}/")))
                .map(|(p, d)| (p.clone(), d.clone()))
                .collect();
            if hits.is_empty() {
                return Err(format!("\"/{s}\" not found"));
            }
            out.extend(hits);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn files(entries: &[(&str, &str)]) -> Files {
    Files(entries.iter().map(|(p, d)| (p.to_string(), d.to_string())).collect())
}

fn run(src: &str, ctx: &Files, store: &Store, build_args: &[(&str, &str)]) -> Plan {
    let parsed = parse(src);
    let options = CheckOptions {
        build_args: build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..CheckOptions::default()
    };
    let m = model::analyze(src, &parsed.file, &options);
    let g = graph::build(&parsed.file, &m, None, 0..0).unwrap();
    let options = PlanOptions {
        dockerfile_id: "Dockerfile".into(),
        build_args: build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..PlanOptions::default()
    };
    plan(&parsed.file, &m, &g, ctx, Some(store), &options)
}

fn statuses(p: &Plan) -> Vec<(String, Status, Vec<String>)> {
    p.steps
        .iter()
        .map(|s| (s.instruction.clone(), s.status, s.reasons.clone()))
        .collect()
}

const DOCKERFILE: &str = "FROM scratch AS build\nARG V=1\nCOPY src /src\nCOPY docs /docs\nRUN make V=$V\nFROM scratch\nCOPY --from=build /out /out\n";

#[test]
fn unchanged_inputs_hit_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ctx = files(&[("src/a.c", "1"), ("src/b.c", "2"), ("docs/x.md", "3")]);
    let first = run(DOCKERFILE, &ctx, &store, &[]);
    assert!(first
        .steps
        .iter()
        .filter(|s| s.instruction != "FROM scratch AS build" && !s.instruction.starts_with("FROM"))
        .all(|s| s.status == Status::Miss));
    assert!(first.steps.iter().any(|s| s.reasons == ["never built before"]));
    record(&first, &store, 1).unwrap();
    let second = run(DOCKERFILE, &ctx, &store, &[]);
    assert_eq!(second.summary.misses, 0, "{:?}", statuses(&second));
    // Keys are deterministic.
    let keys = |p: &Plan| p.steps.iter().map(|s| s.cache_key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&second));
}

#[test]
fn a_modified_file_misses_exactly_the_steps_that_use_it_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let before = files(&[("src/a.c", "1"), ("src/b.c", "2"), ("docs/x.md", "3")]);
    record(&run(DOCKERFILE, &before, &store, &[]), &store, 1).unwrap();
    let after = files(&[("src/a.c", "1"), ("src/b.c", "2"), ("docs/x.md", "4")]);
    let p = run(DOCKERFILE, &after, &store, &[]);
    let s = statuses(&p);
    let by = |i: &str| s.iter().find(|(x, _, _)| x == i).unwrap().clone();
    assert_eq!(by("COPY src /src").1, Status::Hit);
    assert_eq!(
        by("COPY docs /docs"),
        (
            "COPY docs /docs".into(),
            Status::Miss,
            vec!["file docs/x.md modified".into()]
        )
    );
    assert_eq!(by("RUN make V=$V").2, vec!["parent step missed".to_string()]);
    assert_eq!(
        by("COPY --from=build /out /out").2,
        vec!["source stage build rebuilds".to_string()]
    );
}

#[test]
fn files_a_step_does_not_select_never_change_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = run(
        DOCKERFILE,
        &files(&[("src/a.c", "1"), ("docs/x.md", "3"), ("unrelated.txt", "9")]),
        &store,
        &[],
    );
    let b = run(
        DOCKERFILE,
        &files(&[
            ("src/a.c", "1"),
            ("docs/x.md", "3"),
            ("unrelated.txt", "10"),
            ("new/file", "0"),
        ]),
        &store,
        &[],
    );
    assert_eq!(
        a.steps.iter().map(|s| &s.cache_key).collect::<Vec<_>>(),
        b.steps.iter().map(|s| &s.cache_key).collect::<Vec<_>>()
    );
}

#[test]
fn added_files_are_grouped_by_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    record(
        &run(DOCKERFILE, &files(&[("src/a.c", "1"), ("docs/x.md", "3")]), &store, &[]),
        &store,
        1,
    )
    .unwrap();
    let p = run(
        DOCKERFILE,
        &files(&[
            ("src/a.c", "1"),
            ("src/n/1.c", "1"),
            ("src/n/2.c", "1"),
            ("src/n/3.c", "1"),
            ("src/n/4.c", "1"),
            ("docs/x.md", "3"),
        ]),
        &store,
        &[],
    );
    let copy = p.steps.iter().find(|s| s.instruction == "COPY src /src").unwrap();
    assert_eq!(copy.reasons, vec!["4 files added under src/n/".to_string()]);
}

#[test]
fn a_changed_arg_is_named_with_old_and_new_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ctx = files(&[("src/a.c", "1"), ("docs/x.md", "3")]);
    record(&run(DOCKERFILE, &ctx, &store, &[]), &store, 1).unwrap();
    let p = run(DOCKERFILE, &ctx, &store, &[("V", "2")]);
    let s = statuses(&p);
    let make = s.iter().find(|(i, _, _)| i == "RUN make V=$V").unwrap();
    assert_eq!(
        (make.1, make.2.clone()),
        (Status::Miss, vec!["ARG V changed 1 → 2".to_string()])
    );
    // Steps before the ARG is used stay cached.
    assert_eq!(s.iter().find(|(i, _, _)| i == "COPY src /src").unwrap().1, Status::Hit);
}

#[test]
fn an_edited_instruction_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ctx = files(&[("src/a.c", "1"), ("docs/x.md", "3")]);
    record(&run(DOCKERFILE, &ctx, &store, &[]), &store, 1).unwrap();
    let edited = DOCKERFILE.replace("RUN make V=$V", "RUN make -j2 V=$V");
    let p = run(&edited, &ctx, &store, &[]);
    let make = p.steps.iter().find(|s| s.instruction == "RUN make -j2 V=$V").unwrap();
    assert_eq!(make.reasons, vec!["instruction text changed".to_string()]);
}

#[test]
fn no_cache_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ctx = files(&[("src/a.c", "1"), ("docs/x.md", "3")]);
    record(&run(DOCKERFILE, &ctx, &store, &[]), &store, 1).unwrap();
    let parsed = parse(DOCKERFILE);
    let m = model::analyze(DOCKERFILE, &parsed.file, &CheckOptions::default());
    let g = graph::build(&parsed.file, &m, None, 0..0).unwrap();
    let opts = PlanOptions {
        dockerfile_id: "Dockerfile".into(),
        no_cache_filter: vec!["build".into()],
        ..PlanOptions::default()
    };
    let p = plan(&parsed.file, &m, &g, &ctx, Some(&store), &opts);
    assert!(p
        .steps
        .iter()
        .filter(|s| s.stage == "build" && s.instruction.starts_with("COPY"))
        .all(|s| s.reasons == ["--no-cache-filter build"]));
    let opts = PlanOptions {
        dockerfile_id: "Dockerfile".into(),
        no_cache: true,
        ..PlanOptions::default()
    };
    let p = plan(&parsed.file, &m, &g, &ctx, Some(&store), &opts);
    assert_eq!(p.summary.hits, 2, "only the two scratch bases are hits");
}

#[test]
fn files_read_through_a_context_bind_mount_are_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let src = "FROM scratch\nRUN --mount=type=bind,source=data,target=/data cp /data/x /x\n";
    record(
        &run(src, &files(&[("data/x", "1"), ("other", "1")]), &store, &[]),
        &store,
        1,
    )
    .unwrap();
    let p = run(src, &files(&[("data/x", "2"), ("other", "1")]), &store, &[]);
    let step = p.steps.iter().find(|s| s.instruction.starts_with("RUN")).unwrap();
    assert_eq!(
        (step.status, step.reasons.clone()),
        (Status::Miss, vec!["bind-mounted file data/x modified".to_string()])
    );
    // Files outside the mounted source do not matter.
    let p = run(src, &files(&[("data/x", "1"), ("other", "2")]), &store, &[]);
    assert_eq!(p.summary.misses, 0);
}

/// Issue 20: a plan row may cut a long instruction, so the plan says where the text
/// changed since the last build (the first changed word), and keeps the whole text.
#[test]
fn a_changed_instruction_says_where_it_changed() {
    use slipway_planner::plan::TextChange;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ctx = files(&[("a", "1")]);
    let changed = |before: &str, after: &str| {
        record(&run(before, &ctx, &store, &[]), &store, 1).unwrap();
        let p = run(after, &ctx, &store, &[]);
        let step = p.steps.last().unwrap().clone();
        match &step.change {
            TextChange::At(r) => (step.summary[r.clone()].to_string(), step),
            other => (format!("{other:?}"), step),
        }
    };
    let (word, step) = changed(
        "FROM scratch\nRUN make \\\n    CFLAGS=-O2 \\\n    install\n",
        "FROM scratch\nRUN make \\\n    CFLAGS=-O3 \\\n    install\n",
    );
    assert_eq!(word, "CFLAGS=-O3");
    assert_eq!(step.summary, "RUN make CFLAGS=-O3 install");
    // A repeated word is found where it changed, not at its first appearance.
    let (word, step) = changed(
        "FROM scratch\nRUN echo a && echo b\n",
        "FROM scratch\nRUN echo a && echo c\n",
    );
    assert_eq!((word.as_str(), &step.summary[..]), ("c", "RUN echo a && echo c"));
    assert_eq!(step.change, TextChange::At(19..20));
    // COPY's canonical form is JSON: the changed value is found in the text.
    let (word, _) = changed("FROM scratch\nCOPY a /srv/\n", "FROM scratch\nCOPY a /opt/\n");
    assert_eq!(word, "/opt/");
    // Removed words: the change is at the end.
    let (_, step) = changed("FROM scratch\nRUN make all check\n", "FROM scratch\nRUN make all\n");
    assert_eq!(step.change, TextChange::At(12..12));
    // A heredoc body is not on the row: changed elsewhere; the JSON text has the body.
    let (word, step) = changed(
        "FROM scratch\nRUN <<EOF\necho one\nEOF\n",
        "FROM scratch\nRUN <<EOF\necho two\nEOF\n",
    );
    assert_eq!(word, "Elsewhere");
    assert_eq!(step.instruction, "RUN <<EOF\necho two\nEOF");
    // Unchanged text (a file changed): the same.
    record(&run("FROM scratch\nCOPY a /a\n", &ctx, &store, &[]), &store, 1).unwrap();
    let p = run("FROM scratch\nCOPY a /a\n", &files(&[("a", "2")]), &store, &[]);
    assert_eq!(p.steps.last().unwrap().change, TextChange::Same);
}

/// Plans `src` for `platform` (None: the host's), with TARGET* as the model gives them.
fn run_for(src: &str, store: &Store, platform: Option<model::PlatformArgs>) -> Plan {
    let parsed = parse(src);
    let options = CheckOptions {
        platform: platform.clone(),
        ..CheckOptions::default()
    };
    let m = model::analyze(src, &parsed.file, &options);
    let g = graph::build(&parsed.file, &m, None, 0..0).unwrap();
    let options = PlanOptions {
        dockerfile_id: "Dockerfile".into(),
        platform,
        ..PlanOptions::default()
    };
    plan(&parsed.file, &m, &g, &files(&[]), Some(store), &options)
}

#[test]
fn the_target_platform_is_in_the_keys_of_the_stages_built_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let arm64 = model::PlatformArgs {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: None,
    };
    let host = model::PlatformArgs::host();
    let src = "FROM --platform=$BUILDPLATFORM scratch AS tools\nARG TARGETARCH\nRUN echo $TARGETARCH\nRUN echo same\nFROM scratch\nCOPY --from=tools /x /x\n";
    let (a, b, h) = (
        run_for(src, &store, Some(arm64.clone())),
        run_for(src, &store, Some(host.clone())),
        run_for(src, &store, None),
    );
    let keys = |p: &Plan| p.steps.iter().map(|s| s.cache_key.clone()).collect::<Vec<_>>();
    // `--platform` of the host's platform is a host build.
    assert_eq!(keys(&b), keys(&h));
    if host == arm64 {
        return;
    }
    // The pinned stage's base is the same for both targets, the RUN that reads TARGETARCH
    // is not, and neither is anything after it; the final stage's base differs.
    let (ka, kh) = (keys(&a), keys(&h));
    assert_eq!(ka[0], kh[0], "the $BUILDPLATFORM stage's base");
    assert_ne!(ka[1], kh[1], "RUN echo $TARGETARCH");
    assert_eq!(ka.len(), 5);
    assert_ne!(ka[3], kh[3], "the final stage's base (scratch for arm64)");
    assert!(a.steps[1].instruction.contains("TARGETARCH"));
}

#[test]
fn a_stage_arg_that_takes_the_global_default_keys_on_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let one = run("ARG V=1\nFROM scratch\nARG V\nRUN echo $V\n", &files(&[]), &store, &[]);
    let two = run("ARG V=2\nFROM scratch\nARG V\nRUN echo $V\n", &files(&[]), &store, &[]);
    assert_ne!(
        one.steps[1].cache_key, two.steps[1].cache_key,
        "the RUN sees V=1, then V=2"
    );
}

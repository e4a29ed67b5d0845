//! `slipway plan` end to end: a context on disk, cache records written as a
//! build would (there is no runner yet), then edits and the reasons the plan gives.

use crate::root;
use std::path::Path;

fn plan_json(store: &Path, context: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = crate::bin()
        .args(["plan", "--format", "json"])
        .args(extra)
        .arg(context)
        .env("SLIPWAY_ROOT", store)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.code() != Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
    )
}

/// Writes cache records for the current plan, as a successful build would.
fn record(store: &Path, context: &Path, build_args: &[(&str, &str)]) {
    let store = slipway_store::Store::open(store).unwrap();
    let request = slipway_planner::request::Request {
        context: context.to_path_buf(),
        build_args: build_args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    let planned = match slipway_planner::request::plan_request(&request, &store) {
        Ok(p) => p,
        Err(_) => panic!("plan failed"),
    };
    slipway_planner::plan::record(&planned.plan, &store, 1).unwrap();
}

fn reasons(v: &serde_json::Value, instruction: &str) -> (String, Vec<String>) {
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["instruction"] == instruction)
        .unwrap_or_else(|| panic!("{instruction} not in {v}"));
    (
        step["status"].as_str().unwrap().to_string(),
        step["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect(),
    )
}

#[test]
fn plan_names_the_changed_file_and_ignores_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (dir.path().join("store"), dir.path().join("ctx"));
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nARG V=1\nCOPY src /src\nCOPY notes.txt /\nWORKDIR /src\nCOPY --chmod=0644 app.conf /etc/\n",
    )
    .unwrap();
    std::fs::write(ctx.join("src/main.c"), "int main(){}\n").unwrap();
    std::fs::write(ctx.join("notes.txt"), "v1\n").unwrap();
    std::fs::write(ctx.join("app.conf"), "k=v\n").unwrap();
    std::fs::write(ctx.join(".dockerignore"), "*.log\n").unwrap();

    let (code, first) = plan_json(&store, &ctx, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        reasons(&first, "COPY src /src"),
        ("miss".into(), vec!["never built before".into()])
    );
    record(&store, &ctx, &[]);
    let (_, again) = plan_json(&store, &ctx, &[]);
    assert_eq!(again["summary"]["misses"], 0, "{again}");

    // Only the file's step and what follows it rebuild; an ignored file changes nothing.
    std::thread::sleep(std::time::Duration::from_millis(120));
    std::fs::write(ctx.join("notes.txt"), "v2\n").unwrap();
    std::fs::write(ctx.join("debug.log"), "noise\n").unwrap();
    let (_, after) = plan_json(&store, &ctx, &[]);
    assert_eq!(reasons(&after, "COPY src /src").0, "hit");
    assert_eq!(
        reasons(&after, "COPY notes.txt /"),
        ("miss".into(), vec!["file notes.txt modified".into()])
    );
    assert_eq!(
        reasons(&after, "WORKDIR /src"),
        ("miss".into(), vec!["parent step missed".into()])
    );
    // --fail-on-miss gates CI.
    assert_eq!(plan_json(&store, &ctx, &["--fail-on-miss"]).0, 1);

    // A touch alone never misses; a mode change does.
    record(&store, &ctx, &[]);
    let conf = ctx.join("app.conf");
    let f = std::fs::File::options().write(true).open(&conf).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(f);
    assert_eq!(plan_json(&store, &ctx, &[]).1["summary"]["misses"], 0);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, moded) = plan_json(&store, &ctx, &[]);
    assert_eq!(
        reasons(&moded, "COPY --chmod=0644 app.conf /etc/"),
        ("miss".into(), vec!["file app.conf modified".into()])
    );
}

#[test]
fn plan_reports_render() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (dir.path().join("store"), dir.path().join("ctx"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch AS a\nCOPY x /x\nFROM scratch\nCOPY --from=a /x /y\n",
    )
    .unwrap();
    std::fs::write(ctx.join("x"), "x").unwrap();
    let run = |format: &str| plan_in(&store, &ctx, format).1;
    let md = run("markdown");
    assert!(
        md.contains("| 🔁 | `a` | 2 | `COPY x /x` | never built before |"),
        "{md}"
    );
    let dot = run("dot");
    assert!(
        dot.starts_with("digraph plan {") && dot.contains("fillcolor=lightcoral") && dot.contains(" -> "),
        "{dot}"
    );
    let human = run("human");
    assert!(
        human.contains("rebuild") && human.contains("↳ never built before"),
        "{human}"
    );
    // Issue 20: the human report has a header row.
    assert!(
        human.starts_with("STATUS   STAGE  LINE  CACHE KEY     INSTRUCTION\n"),
        "{human}"
    );
}

/// Runs `slipway plan` in a format against a store; the exit code, stdout and stderr.
fn plan_in(store: &Path, context: &Path, format: &str) -> (Option<i32>, String, String) {
    let out = crate::bin()
        .args(["plan", "--format", format])
        .arg(context)
        .env("SLIPWAY_ROOT", store)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = crate::text(&out);
    (out.status.code(), stdout, stderr)
}

/// Issue 20: a cut instruction hid the change a reviewer needed. JSON has every
/// instruction whole; a human or Markdown row cuts one only around what changed.
#[test]
fn plan_rows_cut_an_instruction_only_around_its_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (dir.path().join("store"), dir.path().join("ctx"));
    std::fs::create_dir_all(&ctx).unwrap();
    let packages = "build-essential ca-certificates curl git libssl-dev pkg-config zlib1g-dev";
    let dockerfile = |version: &str| {
        format!(
            "FROM scratch\nRUN apt-get update && apt-get install -y --no-install-recommends \\\n    {packages} \\\n    && curl -fsSL https://example.com/tool-{version}.tar.gz | tar -xz\n"
        )
    };
    std::fs::write(ctx.join("Dockerfile"), dockerfile("1.2.3")).unwrap();
    record(&store, &ctx, &[]);
    std::fs::write(ctx.join("Dockerfile"), dockerfile("1.2.4")).unwrap();

    let (code, _) = plan_json(&store, &ctx, &[]);
    assert_eq!(code, 0);
    let (_, json, _) = plan_in(&store, &ctx, "json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let run = v["steps"][1]["instruction"].as_str().unwrap();
    assert!(
        run.ends_with("https://example.com/tool-1.2.4.tar.gz | tar -xz"),
        "{run}"
    );
    assert!(run.contains(packages), "{run}");
    assert_eq!(
        v["steps"][1]["reasons"],
        serde_json::json!(["instruction text changed"])
    );

    let (_, human, _) = plan_in(&store, &ctx, "human");
    let row = human.lines().find(|l| l.starts_with("rebuild")).unwrap();
    assert!(row.contains("RUN …") && row.contains("tool-1.2.4.tar.gz"), "{human}");
    let (_, markdown, _) = plan_in(&store, &ctx, "markdown");
    let row = markdown.lines().find(|l| l.contains("🔁 | `0`")).unwrap();
    assert!(
        row.contains("`RUN …") && row.contains("tool-1.2.4.tar.gz"),
        "{markdown}"
    );
}

/// Issue 20: a COPY source missing from the context was only a miss reason and the plan
/// exited 0. The report is still printed, then a diagnostic names the file: exit 1.
#[test]
fn plan_with_a_missing_copy_source_reports_it_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (dir.path().join("store"), dir.path().join("ctx"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY here.txt missing.txt /app/\n",
    )
    .unwrap();
    std::fs::write(ctx.join("here.txt"), "x").unwrap();

    let (code, human, stderr) = plan_in(&store, &ctx, "human");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(human.contains("COPY here.txt missing.txt /app/"), "{human}");
    assert!(human.contains("cannot select sources"), "{human}");
    assert!(stderr.contains("\"/missing.txt\": not found"), "{stderr}");
    assert!(stderr.contains(".dockerignore"), "{stderr}");
    assert!(stderr.contains("Dockerfile:2:"), "points at the source: {stderr}");

    let (code, json, _) = plan_in(&store, &ctx, "json");
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let errors = &v["steps"][1]["errors"];
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{v}");
    assert!(errors[0].as_str().unwrap().contains("missing.txt"), "{v}");
    assert_eq!(v["steps"][0]["errors"], serde_json::json!([]));
}

#[test]
fn plan_for_several_platforms_names_the_steps_that_run_under_emulation() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (dir.path().join("store"), dir.path().join("ctx"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM --platform=$BUILDPLATFORM scratch AS tools\nARG TARGETARCH\nRUN echo build for $TARGETARCH > /tool\nFROM scratch\nRUN echo final\nCOPY --from=tools /tool /tool\n",
    )
    .unwrap();
    let host = slipway_store::platform::Platform::host().to_string();
    let foreign = if host == "linux/amd64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    let (code, v) = plan_json(&store, &ctx, &["--platform", &format!("{host},{foreign}")]);
    assert_eq!(code, 0, "{v}");
    let plans = v["platforms"].as_array().expect("one plan per platform");
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["summary"]["platform"], host.as_str());
    assert_eq!(plans[1]["summary"]["platform"], foreign);
    let emulated = |plan: &serde_json::Value, instruction: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["instruction"].as_str().unwrap().starts_with(instruction))
            .map(|s| s["emulated"].clone())
            .unwrap()
    };
    // The host's plan emulates nothing; the foreign one only the final stage's RUN: the
    // tools stage is pinned to the build platform.
    assert_eq!(emulated(&plans[0], "RUN echo final"), serde_json::Value::Null);
    assert_eq!(emulated(&plans[1], "RUN echo final"), foreign);
    assert_eq!(emulated(&plans[1], "RUN echo build"), serde_json::Value::Null);
    assert_eq!(plans[1]["summary"]["emulated"], 1);
    // TARGETARCH differs, so the pinned stage's RUN has a key per target; its base does not.
    let key = |plan: &serde_json::Value, i: usize| plan["steps"][i]["cache_key"].clone();
    assert_eq!(key(&plans[0], 0), key(&plans[1], 0));
    assert_ne!(key(&plans[0], 1), key(&plans[1], 1));
    // The human report says what emulation costs and what to do.
    let out = crate::bin()
        .args(["plan", "--platform", foreign])
        .arg(&ctx)
        .env("SLIPWAY_ROOT", &store)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("runs under emulation") && text.contains("10-20x slower"),
        "{text}"
    );
    assert!(text.contains("FROM --platform=$BUILDPLATFORM"), "{text}");
}

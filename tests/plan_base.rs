//! `slipway plan --base REV` on a scratch git repository: what each kind of commit
//! rebuilds, with no store; and the pull-request comment script of docs/ci/.

use crate::text;
use std::path::Path;
use std::process::{Command, Output};

fn git(repo: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn plan(store: &Path, repo: &Path, base: &str) -> serde_json::Value {
    let o: Output = crate::bin()
        .args(["plan", "--base", base, "--format", "json", "."])
        .current_dir(repo)
        .env("SLIPWAY_ROOT", store)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// (instruction, rebuilds?, reasons) per step.
fn verdicts(v: &serde_json::Value) -> Vec<(String, bool, Vec<String>)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["instruction"].as_str().unwrap().to_string(),
                s["status"] == "miss",
                s["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn have_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: skipping plan --base tests (no git)");
    }
    ok
}

#[test]
fn plan_base_says_what_each_commit_rebuilds() {
    if !have_git() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (repo, store) = (d.path().join("repo"), d.path().join("store"));
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "."]);
    std::fs::write(repo.join("src/a.py"), "a\n").unwrap();
    std::fs::write(repo.join("src/b.py"), "b\n").unwrap();
    std::fs::write(repo.join("NOTES.md"), "notes\n").unwrap();
    std::fs::write(repo.join(".dockerignore"), "NOTES.md\n").unwrap();
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM debian:bookworm-slim\nARG VERSION=1\nCOPY src/ /app/\nRUN echo $VERSION\nCMD [\"x\"]\n",
    )
    .unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    // Files checked out with another umask are not a change.
    std::fs::set_permissions(
        repo.join("src/b.py"),
        std::os::unix::fs::PermissionsExt::from_mode(0o664),
    )
    .unwrap();

    // Nothing changed: nothing rebuilds; the base is compared by reference (no store).
    let v = plan(&store, &repo, "HEAD");
    assert!(verdicts(&v).iter().all(|(_, miss, _)| !miss), "{v}");
    assert_eq!(v["summary"]["misses"], 0);
    assert!(v["notes"][0].as_str().unwrap().contains("debian:bookworm-slim"), "{v}");
    assert!(
        !store.join("context-cache").exists(),
        "plan --base must not write a store"
    );

    // A .dockerignore'd file: no rebuild.
    std::fs::write(repo.join("NOTES.md"), "more notes\n").unwrap();
    git(&repo, &["commit", "-qam", "notes"]);
    assert_eq!(plan(&store, &repo, "HEAD~1")["summary"]["misses"], 0);

    // A context file: the COPY and what follows.
    std::fs::write(repo.join("src/a.py"), "a2\n").unwrap();
    git(&repo, &["commit", "-qam", "a"]);
    let v = verdicts(&plan(&store, &repo, "HEAD~1"));
    assert!(!v[0].1, "{v:?}");
    assert_eq!(
        v[1],
        ("COPY src/ /app/".into(), true, vec!["file src/a.py modified".into()])
    );
    assert_eq!(
        v[2],
        ("RUN echo $VERSION".into(), true, vec!["after a changed step".into()])
    );

    // An ARG default: the RUN that sees it.
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM debian:bookworm-slim\nARG VERSION=2\nCOPY src/ /app/\nRUN echo $VERSION\nCMD [\"x\"]\n",
    )
    .unwrap();
    git(&repo, &["commit", "-qam", "version"]);
    let v = verdicts(&plan(&store, &repo, "HEAD~1"));
    assert!(!v[0].1 && !v[1].1, "{v:?}");
    assert!(v[2].1, "{v:?}");
    assert_eq!(v[2].2, ["ARG VERSION changed 1 → 2"], "{v:?}");

    // The Dockerfile's instruction, and uncommitted work against the first commit.
    std::fs::write(
        repo.join("Dockerfile"),
        "FROM debian:bookworm-slim\nARG VERSION=2\nCOPY src/ /app/\nRUN echo $VERSION && true\nCMD [\"x\"]\n",
    )
    .unwrap();
    let v = verdicts(&plan(&store, &repo, "HEAD"));
    assert_eq!(v[2].2, ["instruction text changed"], "{v:?}");
    let v = verdicts(&plan(&store, &repo, "HEAD~3"));
    assert!(v[1].2.contains(&"file src/a.py modified".to_string()), "{v:?}");
    assert!(v[2].2.contains(&"after a changed step".to_string()), "{v:?}");
    assert!(v[2].2.contains(&"ARG VERSION changed 1 → 2".to_string()), "{v:?}");

    // A revision that does not exist: an error that says so.
    let o = crate::bin()
        .args(["plan", "--base", "no-such-rev", "."])
        .current_dir(&repo)
        .env("SLIPWAY_ROOT", &store)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no-such-rev: no such commit"), "{:?}", text(&o));
}

/// The commands the CI workflows of docs/ci/ run: one Markdown comment per Dockerfile,
/// each starting with the marker the workflows look their comment up by.
#[test]
fn the_pull_request_comment_script_writes_one_comment_per_dockerfile() {
    if !have_git() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir_all(repo.join("web")).unwrap();
    git(&repo, &["init", "-q", "."]);
    std::fs::write(repo.join("Dockerfile"), "FROM scratch\nCOPY a /\n").unwrap();
    std::fs::write(repo.join("a"), "1\n").unwrap();
    std::fs::write(repo.join("web/Dockerfile"), "FROM scratch\nCOPY index.html /\n").unwrap();
    std::fs::write(repo.join("web/index.html"), "<p>1</p>\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "base"]);
    std::fs::write(repo.join("web/index.html"), "<p>2</p>\n").unwrap();
    git(&repo, &["commit", "-qam", "change"]);
    let out = d.path().join("plans");
    let o = Command::new(crate::root().join("scripts/plan-comment.sh"))
        .args(["HEAD~1", out.to_str().unwrap()])
        .current_dir(&repo)
        .env("SLIPWAY", env!("CARGO_BIN_EXE_slipway"))
        .env("SLIPWAY_ROOT", d.path().join("store"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{:?}", text(&o));
    let root = std::fs::read_to_string(out.join("1.md")).unwrap();
    let web = std::fs::read_to_string(out.join("2.md")).unwrap();
    assert!(root.starts_with("<!-- slipway-plan: Dockerfile -->\n"), "{root}");
    assert!(root.contains("0 to rebuild"), "{root}");
    assert!(web.starts_with("<!-- slipway-plan: web/Dockerfile -->\n"), "{web}");
    assert!(web.contains("file index.html modified"), "{web}");
    // Every workflow calls the script the test ran.
    for wf in ["docs/ci/github-actions.yml", "docs/ci/gitlab-ci.yml"] {
        let text = std::fs::read_to_string(crate::root().join(wf)).unwrap();
        assert!(text.contains("scripts/plan-comment.sh"), "{wf}");
    }
}

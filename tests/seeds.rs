//! The seeds' flow, literally: `slipway build .` with no tag, then `slipway run` of the ID
//! it printed; untagged images in `images`, `prune`, stable IDs, signals, Docker's exit
//! codes and messages. Needs root and /bin/busybox; skips otherwise.

use crate::build::{can_run_containers, setup};
use crate::text;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `slipway` in `cwd` against `store`, with the real clock (no SOURCE_DATE_EPOCH).
fn sw(store: &Path, cwd: &Path, args: &[&str]) -> Output {
    crate::bin()
        .args(args)
        .current_dir(cwd)
        .env("SLIPWAY_ROOT", store)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run slipway")
}

fn ok(o: Output, what: &str) -> (String, String) {
    let (out, err) = text(&o);
    assert!(o.status.success(), "{what}: exit {:?}\n{out}\n{err}", o.status.code());
    (out, err)
}

/// The 12 hex digits of `Successfully built <id>`.
fn built_id(out: &str) -> String {
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no 'Successfully built' line in:\n{out}"))
        .trim()
        .to_string();
    assert_eq!(id.len(), 12, "{out}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
    id
}

#[test]
fn build_dot_then_run_the_printed_id() {
    if !can_run_containers("build_dot_then_run_the_printed_id") {
        return;
    }
    let (_d, store, ctx) = setup("FROM bb\nRUN echo made > /made\nEXPOSE 80\nCMD [\"cat\", \"/made\"]\n");
    let (out, err) = ok(sw(&store, &ctx, &["build", "--progress", "plain", "."]), "build .");
    let id = built_id(&out);
    // Every instruction is a step of its own, counted as the classic builder counts them.
    for (n, inst) in [
        "FROM bb",
        "RUN echo made > /made",
        "EXPOSE 80",
        "CMD [\"cat\", \"/made\"]",
    ]
    .iter()
    .enumerate()
    {
        assert!(err.contains(&format!("Step {}/4 : {inst}\n", n + 1)), "{err}");
    }
    assert!(!err.contains("/2 :"), "{err}");

    // Run by the printed ID, by the full digest, by `sha256:` + prefix.
    let (out, _) = ok(sw(&store, &ctx, &["run", "--rm", &id]), "run <short id>");
    assert_eq!(out, "made\n");
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(sw(&store, &ctx, &["image", "inspect", &id]), "inspect").0).unwrap();
    let full = inspect[0]["Id"].as_str().unwrap().to_string();
    assert!(full.starts_with(&format!("sha256:{id}")), "{full}");
    assert_eq!(
        ok(sw(&store, &ctx, &["run", "--rm", &full]), "run <digest>").0,
        "made\n"
    );
    let hex = full.strip_prefix("sha256:").unwrap();
    assert_eq!(ok(sw(&store, &ctx, &["run", "--rm", hex]), "run <hex>").0, "made\n");

    // FROM <id>: the plan finds the base by its ID (cached, keyed on its digest), the build
    // runs on it.
    let child = ctx.parent().unwrap().join("child");
    std::fs::create_dir_all(&child).unwrap();
    std::fs::write(child.join("Dockerfile"), format!("FROM {id}\nRUN cat /made > /copy\n")).unwrap();
    let (out, _) = ok(sw(&store, &child, &["plan", "--format", "json", "."]), "plan FROM <id>");
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["steps"][0]["status"], "hit", "{out}");
    let child_id = built_id(&ok(sw(&store, &child, &["build", "."]), "build FROM <id>").0);
    assert_eq!(
        ok(sw(&store, &child, &["run", "--rm", &child_id, "cat", "/copy"]), "run").0,
        "made\n"
    );

    // Listed as <none>:<none>; -q, --filter dangling=true|false.
    let (out, _) = ok(sw(&store, &ctx, &["images"]), "images");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY") && lines[0].contains("IMAGE ID"),
        "{out}"
    );
    let none = lines
        .iter()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{out}"));
    assert!(
        none.starts_with("<none>") && none.split_whitespace().nth(1) == Some("<none>"),
        "{out}"
    );
    let (out, _) = ok(
        sw(&store, &ctx, &["images", "-q", "--filter", "dangling=true"]),
        "images -q",
    );
    assert_eq!(out, format!("{id}\n{child_id}\n"));
    let (out, _) = ok(sw(&store, &ctx, &["rmi", &child_id]), "rmi <id>");
    assert!(out.contains(&format!("Deleted: sha256:{child_id}")), "{out}");
    let (out, _) = ok(sw(&store, &ctx, &["images", "-q", "-f", "dangling=true"]), "images -q");
    assert_eq!(out, format!("{id}\n"));
    let (out, _) = ok(sw(&store, &ctx, &["images", "-a", "-f", "dangling=false"]), "images -a");
    assert!(out.contains("bb") && !out.contains(&id), "{out}");

    // Tagging it makes it no longer dangling; a new build under the same tag leaves the
    // old image untagged, as Docker does.
    ok(sw(&store, &ctx, &["image", "tag", &id, "seed:1"]), "tag");
    let (out, _) = ok(sw(&store, &ctx, &["images", "-q", "-f", "dangling=true"]), "images");
    assert_eq!(out, "");
    std::fs::write(ctx.join("Dockerfile"), "FROM bb\nCMD [\"echo\", \"two\"]\n").unwrap();
    let (out, _) = ok(sw(&store, &ctx, &["build", "-t", "seed:1", "."]), "build -t");
    let second = built_id(&out);
    assert_ne!(second, id);
    let (out, _) = ok(sw(&store, &ctx, &["images", "-q", "-f", "dangling=true"]), "images");
    assert_eq!(out, format!("{id}\n"));

    // prune removes the dangling image; the tagged one stays.
    let (out, _) = ok(sw(&store, &ctx, &["prune"]), "prune");
    assert!(
        out.contains("Deleted Images:") && out.contains(&format!("deleted: sha256:{id}")),
        "{out}"
    );
    let o = sw(&store, &ctx, &["run", "--rm", &id]);
    assert_eq!(o.status.code(), Some(125), "{:?}", text(&o));
    assert!(text(&o).1.contains(&format!("no image {id}")), "{:?}", text(&o));
    assert_eq!(
        ok(sw(&store, &ctx, &["run", "--rm", "seed:1"]), "run seed:1").0,
        "two\n"
    );
    assert!(ok(sw(&store, &ctx, &["verify"]), "verify").0.contains("consistent"));
}

#[test]
fn an_all_cached_rebuild_gives_the_same_image_id() {
    if !can_run_containers("an_all_cached_rebuild_gives_the_same_image_id") {
        return;
    }
    let (_d, store, ctx) = setup("FROM bb\nRUN echo a > /a\nENV X=1\nCMD [\"cat\", \"/a\"]\n");
    let first = built_id(&ok(sw(&store, &ctx, &["build", "."]), "build 1").0);
    // A second later the clock has moved: the config's times must not.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (out, err) = ok(sw(&store, &ctx, &["build", "--progress", "plain", "."]), "build 2");
    assert!(err.contains("Using cache"), "{err}");
    assert_eq!(built_id(&out), first);
    // Anything that runs again makes a new image (new times), as Docker's --no-cache.
    let third = built_id(&ok(sw(&store, &ctx, &["build", "--no-cache", "."]), "build 3").0);
    assert_ne!(third, first);
    // Only the dangling ones the rebuilds left are listed once each.
    let (out, _) = ok(sw(&store, &ctx, &["images", "-q", "-f", "dangling=true"]), "images");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn ctrl_c_on_run_is_relayed_once_and_the_container_exits_cleanly() {
    if !can_run_containers("ctrl_c_on_run_is_relayed_once_and_the_container_exits_cleanly") {
        return;
    }
    use std::io::{BufRead, BufReader};
    let (_d, store, ctx) = setup("FROM bb\n");
    for (flags, signal) in [(&["--rm"][..], libc_sig::SIGINT), (&[][..], libc_sig::SIGTERM)] {
        let script = "n=0; trap 'n=$((n+1)); echo got signal $n; exit 0' INT TERM; echo ready; \
                      while :; do sleep 0.05; done";
        let mut child = crate::bin()
            .arg("run")
            .args(flags)
            .args(["bb", "sh", "-c", script])
            .current_dir(&ctx)
            .env("SLIPWAY_ROOT", &store)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, as a shell's foreground job: the "Ctrl-C" below goes
            // to the whole group, as a terminal sends it.
            .process_group(0)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let kill = Command::new("kill")
            .args([signal, "--", &format!("-{}", child.id())])
            .status()
            .unwrap();
        assert!(kill.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        // One signal reached the trap (not two: the terminal's and a relayed one), and
        // slipway waited for it and exits with the container's code.
        assert_eq!(rest, "got signal 1\n", "{flags:?} {signal}: {err}");
        assert_eq!(status.code(), Some(0), "{flags:?} {signal}: {err}");
        if flags.is_empty() {
            assert!(err.contains("slipway: container "), "{err}");
        }
    }
    // The kept container is listed and removed by prune.
    let (out, _) = ok(sw(&store, &ctx, &["ps", "-a"]), "ps -a");
    assert!(out.starts_with("CONTAINER ID") && out.contains("Exited (0)"), "{out}");
    let id = out
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (out, _) = ok(sw(&store, &ctx, &["prune"]), "prune");
    assert!(out.contains("Deleted Containers:") && out.contains(&id), "{out}");
    let (out, _) = ok(sw(&store, &ctx, &["ps", "-a", "-q"]), "ps -a -q");
    assert_eq!(out, "");
}

/// Signal names for `kill(1)`.
mod libc_sig {
    pub const SIGINT: &str = "-INT";
    pub const SIGTERM: &str = "-TERM";
}

#[test]
fn run_exit_codes_and_build_messages_are_dockers() {
    if !can_run_containers("run_exit_codes_and_build_messages_are_dockers") {
        return;
    }
    let (d, store, ctx) = setup("FROM bb\n");
    let o = sw(&store, &ctx, &["run", "--rm", "bb", "nosuchcmd"]);
    assert_eq!(o.status.code(), Some(127), "{:?}", text(&o));
    assert!(text(&o).1.contains("nosuchcmd"), "{:?}", text(&o));
    let o = sw(&store, &ctx, &["run", "--rm", "bb", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{:?}", text(&o));
    assert!(text(&o).1.contains("/etc/passwd"), "{:?}", text(&o));
    let o = sw(&store, &ctx, &["run", "--rm", "bb", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3));

    // A context that does not exist says so.
    let o = sw(&store, d.path(), &["build", "no-such-dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("the build context no-such-dir does not exist"),
        "{:?}",
        text(&o)
    );
    // A lowercase `dockerfile` is found when there is no `Dockerfile`.
    let lower = d.path().join("lower");
    std::fs::create_dir_all(&lower).unwrap();
    std::fs::write(lower.join("dockerfile"), "FROM bb\nCMD [\"echo\", \"lower\"]\n").unwrap();
    let id = built_id(&ok(sw(&store, &lower, &["build", "."]), "build lowercase").0);
    assert_eq!(ok(sw(&store, &lower, &["run", "--rm", &id]), "run").0, "lower\n");
    // COPY of a missing file names it and says where to look.
    std::fs::write(ctx.join("Dockerfile"), "FROM bb\nCOPY missing.txt /\n").unwrap();
    let o = sw(&store, &ctx, &["build", "."]);
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o).1;
    assert!(err.contains("missing.txt") && err.contains(".dockerignore"), "{err}");
}

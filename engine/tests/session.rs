//! The build session as a library: what an embedding sees through `Events`, and how a
//! session ends (no containers: the Dockerfiles here only copy files).

use slipway_engine::{build, BuildRequest, Error, Events, Outcome, Pushed};
use slipway_runner::progress::{Mode, StepEvent};
use std::sync::Mutex;

#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<String>>,
}

impl Recorder {
    fn push(&self, s: String) {
        self.lines.lock().unwrap().push(s);
    }
    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

impl Events for Recorder {
    fn info(&self, m: &str) {
        self.push(format!("info {m}"));
    }
    fn warning(&self, m: &str) {
        self.push(format!("warning {m}"));
    }
    fn platform(&self, p: &slipway_registry::pull::Platform, i: usize, n: usize) {
        self.push(format!("platform {p} {}/{n}", i + 1));
    }
    fn step(&self, e: &StepEvent<'_>) {
        match e {
            StepEvent::Started {
                n, total, instruction, ..
            } => self.push(format!("start {n}/{total} {instruction}")),
            StepEvent::Done { n } => self.push(format!("done {n}")),
            StepEvent::Cached { n, .. } => self.push(format!("cached {n}")),
            _ => {}
        }
    }
    fn built(&self, o: &Outcome) {
        self.push(format!("built {} {}", o.id, o.images.len()));
    }
    fn pushed(&self, p: &Pushed) {
        self.push(format!("pushed {}", p.reference));
    }
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(d.path().join("f"), "hello\n").unwrap();
    d
}

fn request(ctx: &std::path::Path) -> BuildRequest {
    BuildRequest {
        plan: slipway_planner::request::Request {
            context: ctx.to_path_buf(),
            ..Default::default()
        },
        progress: Mode::Quiet,
        ..BuildRequest::default()
    }
}

#[test]
fn a_session_tells_its_listener_every_step_and_the_image() {
    let ctx = context("FROM scratch\nCOPY f /f\nLABEL a=b\n");
    let dir = tempfile::tempdir().unwrap();
    let store = slipway_store::Store::open(dir.path()).unwrap();
    let events = Recorder::default();
    let mut r = request(ctx.path());
    r.tags = vec!["lib:1".into()];
    let outcome = build(&store, &r, &events).unwrap_or_else(|e| panic!("{e}"));
    let lines = events.lines();
    assert!(lines.contains(&"start 2/3 COPY f /f".to_string()), "{lines:?}");
    assert!(lines.contains(&"done 2".to_string()), "{lines:?}");
    assert_eq!(lines.last().unwrap(), &format!("built {} 1", outcome.id), "{lines:?}");
    assert_eq!(outcome.tags, ["docker.io/library/lib:1"]);
    // The second time every step comes from the cache, the same image.
    let again = Recorder::default();
    let second = build(&store, &r, &again).unwrap();
    assert_eq!(second.id, outcome.id);
    assert!(again.lines().contains(&"cached 2".to_string()), "{:?}", again.lines());
}

#[test]
fn two_platforms_make_one_index_and_each_platform_is_announced() {
    let ctx = context("FROM scratch\nARG TARGETARCH\nCOPY f /f-$TARGETARCH\n");
    let dir = tempfile::tempdir().unwrap();
    let store = slipway_store::Store::open(dir.path()).unwrap();
    let events = Recorder::default();
    let mut r = request(ctx.path());
    r.platforms = vec![
        slipway_registry::pull::Platform::parse("linux/amd64").unwrap(),
        slipway_registry::pull::Platform::parse("linux/arm64").unwrap(),
    ];
    let outcome = build(&store, &r, &events).unwrap_or_else(|e| panic!("{e}"));
    let lines = events.lines();
    assert!(lines.contains(&"platform linux/amd64 1/2".to_string()), "{lines:?}");
    assert!(lines.contains(&"platform linux/arm64 2/2".to_string()), "{lines:?}");
    assert_eq!(outcome.images.len(), 2);
    assert_eq!(outcome.descriptor.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(outcome.id, outcome.descriptor.digest);
    assert_ne!(outcome.images[0].built.id, outcome.images[1].built.id);
}

#[test]
fn a_session_ends_with_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = slipway_store::Store::open(dir.path()).unwrap();
    // A Dockerfile with errors: diagnostics at their spans.
    let ctx = context("FROM scratch\nCOPY --nope f /f\n");
    match build(&store, &request(ctx.path()), &Recorder::default()) {
        Err(Error::Dockerfile { diagnostics, .. }) => assert!(!diagnostics.is_empty()),
        other => panic!("{other:?}"),
    }
    // --push without a name: the request is wrong.
    let ctx = context("FROM scratch\n");
    let mut r = request(ctx.path());
    r.push = true;
    assert!(matches!(build(&store, &r, &Recorder::default()), Err(Error::Usage(_))));
}

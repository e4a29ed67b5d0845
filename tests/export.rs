//! Exports checked by other tools: skopeo and umoci read `--output type=oci`, skopeo copies
//! `type=docker` into containers-storage and buildah runs it; `image save` → `rm` → `load`
//! → `run`; `FROM oci-layout://`; a prune keeps the store consistent and usable. Needs root,
//! /bin/busybox, skopeo, umoci and buildah (`.ci/run` installs them); skips otherwise.

use crate::build::{can_run_containers, import_busybox};
use crate::slipway_in;
use std::path::Path;
use std::process::{Command, Output};

/// Runs a command and returns its stdout; panics with its stderr when it fails.
fn ok(o: Output, what: &str) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{what} failed: {err}\n{out}");
    out
}

fn have_tools(test: &str) -> bool {
    if !can_run_containers(test) {
        return false;
    }
    for tool in ["skopeo", "umoci", "buildah"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("note: skipping {test} (needs {tool}: apt-get install skopeo umoci buildah)");
            return false;
        }
    }
    true
}

/// A context whose build writes a known file; built as `app:v1` with every export.
fn build_app(store: &Path, dir: &Path) -> std::path::PathBuf {
    import_busybox(store, dir);
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from the context\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM bb\n\
         RUN echo built-by-slipway > /msg\n\
         COPY hello.txt /srv/\n\
         ENV GREETING=hi\n\
         CMD [\"cat\", \"/msg\", \"/srv/hello.txt\"]\n",
    )
    .unwrap();
    let oci = format!("type=oci,dest={}", dir.join("layout").display());
    let oci_tar = format!("type=oci,dest={}", dir.join("layout.tar").display());
    let docker = format!("type=docker,dest={}", dir.join("docker.tar").display());
    ok(
        slipway_in(
            store,
            &ctx,
            &["build", "-t", "app:v1", "-o", &oci, "-o", &oci_tar, "-o", &docker, "."],
        ),
        "build",
    );
    ctx
}

fn inspect(store: &Path, dir: &Path, image: &str) -> serde_json::Value {
    let out = ok(slipway_in(store, dir, &["image", "inspect", image]), "image inspect");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].take()
}

#[test]
fn oci_export_is_read_by_skopeo_and_umoci() {
    if !have_tools("oci_export_is_read_by_skopeo_and_umoci") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    build_app(&store, d.path());
    let ours = inspect(&store, d.path(), "app:v1");
    let layout = d.path().join("layout");

    for source in [
        format!("oci:{}:v1", layout.display()),
        format!("oci-archive:{}:v1", d.path().join("layout.tar").display()),
    ] {
        let out = ok(
            Command::new("skopeo").args(["inspect", &source]).output().unwrap(),
            "skopeo inspect",
        );
        let theirs: serde_json::Value = serde_json::from_str(&out).unwrap();
        // The layout holds the image as it leaves the store: the same config (so the same
        // ID), the layers the store keeps uncompressed compressed with gzip.
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let exported = index["manifests"][0]["digest"].as_str().unwrap();
        assert_eq!(theirs["Digest"], exported, "{source}");
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(layout.join("blobs/sha256").join(exported.trim_start_matches("sha256:"))).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["config"]["digest"], ours["Id"]);
        let layers: Vec<&serde_json::Value> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|l| assert_eq!(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip"))
            .map(|l| &l["digest"])
            .collect();
        assert_eq!(
            theirs["Layers"].as_array().unwrap().iter().collect::<Vec<_>>(),
            layers,
            "{source}"
        );
        assert!(
            theirs["Env"].as_array().unwrap().iter().any(|e| e == "GREETING=hi"),
            "{out}"
        );
        // The config skopeo reads is ours byte for byte.
        let raw = Command::new("skopeo")
            .args(["inspect", "--config", "--raw", &source])
            .output()
            .unwrap();
        assert!(raw.status.success());
        let digest = slipway_store::Digest::of(&raw.stdout);
        assert_eq!(digest.as_str(), ours["Id"].as_str().unwrap(), "{source}");
    }

    let bundle = d.path().join("bundle");
    ok(
        Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:v1", layout.display()))
            .arg(&bundle)
            .output()
            .unwrap(),
        "umoci unpack",
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/msg")).unwrap(),
        "built-by-slipway\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/srv/hello.txt")).unwrap(),
        "hello from the context\n"
    );
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        spec["process"]["args"],
        serde_json::json!(["cat", "/msg", "/srv/hello.txt"])
    );
}

#[test]
fn docker_archive_runs_under_buildah() {
    if !have_tools("docker_archive_runs_under_buildah") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    build_app(&store, d.path());
    let ours = inspect(&store, d.path(), "app:v1");
    // containers-storage in the temp dir (vfs), so the test leaves nothing on the machine.
    let conf = d.path().join("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/cs-run\"\ngraphroot = \"{0}/cs-graph\"\n",
            d.path().display()
        ),
    )
    .unwrap();
    let tool = |name: &str, args: &[&str]| -> String {
        let o = Command::new(name)
            .args(args)
            .env("CONTAINERS_STORAGE_CONF", &conf)
            .output()
            .unwrap();
        ok(o, &format!("{name} {}", args.join(" ")))
    };
    let archive = format!("docker-archive:{}", d.path().join("docker.tar").display());
    let listed: serde_json::Value = serde_json::from_str(&tool("skopeo", &["inspect", &archive])).unwrap();
    assert_eq!(listed["Env"], ours["Config"]["config"]["Env"]);
    tool("skopeo", &["copy", &archive, "containers-storage:localhost/x:latest"]);
    // The image ID (the config's digest) survives the trip.
    let ids = tool("buildah", &["images", "--no-trunc", "--format", "{{.ID}}"]);
    assert!(
        ids.lines().any(|l| ours["Id"].as_str().unwrap().ends_with(l.trim())),
        "{ids} vs {}",
        ours["Id"]
    );
    let ctr = tool("buildah", &["from", "localhost/x:latest"]);
    let ctr = ctr.trim();
    let out = tool(
        "buildah",
        &["run", "--isolation", "chroot", ctr, "cat", "/msg", "/srv/hello.txt"],
    );
    tool("buildah", &["rm", ctr]);
    assert_eq!(out, "built-by-slipway\nhello from the context\n");
}

#[test]
fn save_rm_load_run_and_oci_layout_bases() {
    if !can_run_containers("save_rm_load_run_and_oci_layout_bases") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    build_app(&store, d.path());
    let id = inspect(&store, d.path(), "app:v1")["Id"].as_str().unwrap().to_string();
    let expected = "built-by-slipway\nhello from the context\n";
    let dir = d.path();
    for format in ["docker", "oci"] {
        let file = dir.join(format!("saved-{format}.tar"));
        ok(
            slipway_in(
                &store,
                dir,
                &[
                    "image",
                    "save",
                    "--format",
                    format,
                    "-o",
                    file.to_str().unwrap(),
                    "app:v1",
                ],
            ),
            "save",
        );
        ok(slipway_in(&store, dir, &["image", "rm", "app:v1"]), "rm");
        let o = slipway_in(&store, dir, &["run", "--rm", "app:v1"]);
        assert!(!o.status.success(), "app:v1 is gone");
        let loaded = ok(
            slipway_in(&store, dir, &["image", "load", file.to_str().unwrap()]),
            "load",
        );
        assert_eq!(loaded, "Loaded image: app:v1\n");
        assert_eq!(ok(slipway_in(&store, dir, &["run", "--rm", "app:v1"]), "run"), expected);
        assert_eq!(inspect(&store, dir, "app:v1")["Id"], id.as_str());
    }
    // Standard streams: `build -o type=docker,dest=-` writes the archive to stdout (the
    // messages go to stderr), `image load` reads one from stdin.
    let o = slipway_in(
        &store,
        &dir.join("ctx"),
        &["build", "-t", "app:v1", "-o", "type=docker,dest=-", "."],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Successfully tagged app:v1"));
    let piped = dir.join("piped.tar");
    std::fs::write(&piped, &o.stdout).unwrap();
    ok(slipway_in(&store, dir, &["image", "rm", "app:v1"]), "rm");
    let o = crate::bin()
        .args(["image", "load"])
        .stdin(std::fs::File::open(&piped).unwrap())
        .env("SLIPWAY_ROOT", &store)
        .output()
        .unwrap();
    assert_eq!(ok(o, "load from stdin"), "Loaded image: app:v1\n");
    assert_eq!(ok(slipway_in(&store, dir, &["run", "--rm", "app:v1"]), "run"), expected);

    // `run --rm` wrote its layer to a tmpfs of its own: nothing is left on disk.
    let left: Vec<String> = std::fs::read_dir(store.join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".scratch"]);
    assert!(std::fs::read_dir(store.join("containers/.scratch"))
        .unwrap()
        .next()
        .is_none());

    // `image save --format oci` to a directory: a layout whose index names the image as
    // `build --output type=oci` did. (The docker archive carried uncompressed layers; the
    // load compressed them again, the same way, so even the manifest digest survived.)
    let saved_dir = dir.join("saved-layout/");
    ok(
        slipway_in(
            &store,
            dir,
            &[
                "image",
                "save",
                "--format",
                "oci",
                "-o",
                saved_dir.to_str().unwrap(),
                "app:v1",
            ],
        ),
        "save to a dir",
    );
    let index = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p.join("index.json")).unwrap()).unwrap()
    };
    let (saved, built) = (index(&saved_dir), index(&dir.join("layout")));
    assert_eq!(
        saved["manifests"][0]["annotations"],
        built["manifests"][0]["annotations"]
    );
    assert_eq!(
        saved["manifests"][0]["digest"],
        inspect(&store, dir, "app:v1")["ManifestDescriptor"]["digest"]
    );

    // An image that is removed leaves blobs nothing references: a prune frees them, and
    // the store stays consistent and usable; --all then drops the build cache.
    let ctx_dir = dir.join("ctx");
    ok(
        slipway_in(
            &store,
            dir,
            &["image", "import", ctx_dir.to_str().unwrap(), "--tag", "junk"],
        ),
        "import junk",
    );
    ok(slipway_in(&store, dir, &["image", "rm", "junk"]), "rm junk");
    let out = ok(slipway_in(&store, dir, &["prune"]), "prune");
    let freed: usize = out
        .strip_prefix("Deleted ")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(freed > 0 && out.contains("Total reclaimed space: "), "{out}");
    let s = slipway_store::Store::open(&store).unwrap();
    assert_eq!(s.verify().unwrap(), Vec::<String>::new());
    assert_eq!(
        ok(slipway_in(&store, dir, &["run", "--rm", "app:v1"]), "run after prune"),
        expected
    );
    let out = ok(slipway_in(&store, dir, &["prune", "--all"]), "prune --all");
    assert!(out.contains("cache records"), "{out}");
    assert_eq!(s.verify().unwrap(), Vec::<String>::new());
    let o = slipway_in(&store, &dir.join("ctx"), &["build", "-t", "app:v1", "."]);
    assert!(o.status.success());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("Using cache"),
        "the cache is gone"
    );
    assert_eq!(
        ok(slipway_in(&store, dir, &["run", "--rm", "app:v1"]), "run after rebuild"),
        expected
    );

    // A fresh store builds FROM the layout: the blobs come in verified, the plan keys on
    // the layout's manifest and says the base is there.
    let fresh = dir.join("fresh");
    let ctx = dir.join("ctx2");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM oci-layout://{}:v1\nRUN cat /msg > /again\nCMD [\"cat\", \"/again\"]\n",
            dir.join("layout").display()
        ),
    )
    .unwrap();
    let plan = ok(slipway_in(&fresh, &ctx, &["plan", "."]), "plan");
    assert!(plan.lines().nth(1).unwrap().starts_with("cached"), "{plan}");
    ok(
        slipway_in(&fresh, &ctx, &["build", "-t", "again", "."]),
        "build FROM oci-layout",
    );
    assert_eq!(
        ok(slipway_in(&fresh, &ctx, &["run", "--rm", "again"]), "run"),
        "built-by-slipway\n"
    );
    let s = slipway_store::Store::open(&fresh).unwrap();
    assert_eq!(s.verify().unwrap(), Vec::<String>::new());
    // A tag the layout lacks: a clear error naming the tags it has.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM oci-layout://{}:nope\nRUN true\n", dir.join("layout").display()),
    )
    .unwrap();
    let o = slipway_in(&fresh, &ctx, &["build", "."]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("no manifest tagged nope") && err.contains("its tags: v1"),
        "{err}"
    );
}

//! `slipway image …` and `slipway images` against a store in a temp dir.

use crate::text;
use std::path::Path;
use std::process::Output;

fn slipway_in(store: &Path, args: &[&str]) -> Output {
    crate::bin()
        .args(args)
        .env("SLIPWAY_ROOT", store)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .expect("run slipway")
}

#[test]
fn image_import_list_inspect_tag_rm() {
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    let rootfs = d.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/hello"), "#!/bin/sh\necho hello\n").unwrap();

    let o = slipway_in(&store, &["image", "import", rootfs.to_str().unwrap(), "--tag", "hello"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let id = out.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");

    // Reproducible: the same rootfs and SOURCE_DATE_EPOCH give the same ID.
    let o = slipway_in(
        &store,
        &["image", "import", rootfs.to_str().unwrap(), "-t", "me/hello:v1"],
    );
    assert_eq!(text(&o).0.trim(), id);

    let o = slipway_in(&store, &["images"]);
    let (out, _) = text(&o);
    let short = &id["sha256:".len().."sha256:".len() + 12];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // Docker's columns; CREATED is relative (SOURCE_DATE_EPOCH is November 2023).
    let cols = |l: &str| {
        l.split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cols(lines[0]),
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{out}"
    );
    let row = cols(lines[1]);
    assert_eq!(&row[..3], ["hello", "latest", short], "{out}");
    assert!(row[3].ends_with("years ago"), "{out}");
    assert_eq!(&cols(lines[2])[..3], ["me/hello", "v1", short], "{out}");

    let o = slipway_in(&store, &["image", "inspect", "hello"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Name"], "hello:latest");
    assert_eq!(v[0]["Config"]["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert_eq!(v[0]["Config"]["os"], "linux");
    assert!(v[0]["Config"]["config"]["Env"][0]
        .as_str()
        .unwrap()
        .starts_with("PATH="));
    assert_eq!(
        v[0]["Manifest"]["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    // By ID prefix, then tag and rm.
    assert!(slipway_in(&store, &["image", "inspect", short]).status.success());
    assert!(slipway_in(&store, &["image", "tag", "hello", "hello:2"])
        .status
        .success());
    let o = slipway_in(&store, &["image", "rm", "hello", "hello:2"]);
    assert_eq!(text(&o).0, "Untagged: hello:latest\nUntagged: hello:2\n");
    let o = slipway_in(&store, &["image", "inspect", "hello"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("no image hello in the store (import a root filesystem with `slipway image import"),
        "{err}"
    );
    let o = slipway_in(&store, &["image", "import", rootfs.to_str().unwrap(), "--tag", "Bad"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("invalid image name"), "{}", text(&o).1);
}

/// `slipway run` of an imported busybox image: the container's view and exit code.
/// Needs root (namespaces, overlayfs) and Debian's busybox-static; skips otherwise.
#[test]
fn run_busybox_container_like_docker_run() {
    if !crate::build::can_run_containers("run_busybox_container_like_docker_run") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    crate::build::import_busybox(&store, d.path());

    // The command's exit code becomes ours; -e, -w and -u apply.
    let o = slipway_in(
        &store,
        &[
            "run",
            "--rm",
            "-e",
            "GREETING=hi",
            "-w",
            "/etc",
            "-u",
            "nobody",
            "bb",
            "sh",
            "-c",
            "echo $GREETING $(id -u) $(pwd) $HOME; exit 7",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(7), "{err}");
    assert_eq!(out, "hi 65534 /etc /nonexistent\n");
    // Each container gets its own writable layer: a change does not leak into the image.
    let o = slipway_in(&store, &["run", "--rm", "bb", "sh", "-c", "echo x > /etc/changed"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = slipway_in(&store, &["run", "--rm", "bb", "cat", "/etc/changed"]);
    assert_eq!(o.status.code(), Some(1));
    // No command and no Cmd in the image: Docker's 125 (the run failed before the
    // command), with a message naming the fix.
    let o = slipway_in(&store, &["run", "--rm", "bb"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(text(&o).1.contains("no command specified"));
}

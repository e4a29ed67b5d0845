//! Images of several platforms under one name (issue 16): imports and pulls per platform
//! make a local image index; `images --tree` and `image inspect` show it; an OCI export of
//! it is read by skopeo and umoci; a push puts the index in a loopback registry
//! (`docker-registry`, see `registry.rs`), where skopeo sees it, and pulls per platform
//! into an empty store give back the same index. The parts that run an arm64 busybox under
//! emulation are in `emulation` below and need root and binfmt_misc.

use crate::registry::{Machine, Registry};
use std::path::Path;
use std::process::Command;

/// A rootfs directory with one file saying which platform it is for.
fn rootfs(dir: &Path, platform: &str) -> std::path::PathBuf {
    let r = dir.join(format!("rootfs-{}", platform.replace('/', "-")));
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/platform"), platform).unwrap();
    r
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn have(tool: &str, test: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("note: skipping part of {test} (needs {tool}: apt-get install skopeo umoci)");
    }
    found
}

/// Two platforms imported under one name: an index whose ID `images` shows, whose
/// platforms `images --tree` and `image inspect` show; re-importing one replaces its entry.
#[test]
fn imports_for_two_platforms_make_one_index() {
    let dir = tempfile::tempdir().unwrap();
    let m = Machine::new(dir.path(), "a");
    let amd = m.ok(
        &m.dir,
        &[
            "image",
            "import",
            "--platform",
            "linux/amd64",
            rootfs(&m.dir, "linux/amd64").to_str().unwrap(),
            "--tag",
            "multi:1",
        ],
    );
    let arm = m.ok(
        &m.dir,
        &[
            "image",
            "import",
            "--platform",
            "linux/aarch64",
            rootfs(&m.dir, "linux/arm64").to_str().unwrap(),
            "--tag",
            "multi:1",
        ],
    );
    let (amd, arm) = (amd.trim().to_string(), arm.trim().to_string());
    assert_ne!(amd, arm);

    let inspect = json(&m.ok(&m.dir, &["image", "inspect", "multi:1"]));
    let index_id = inspect[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(
        inspect[0]["Descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms: Vec<&str> = inspect[0]["Images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_eq!(inspect[0]["Images"][1]["Id"], arm.as_str());
    assert_eq!(inspect[0]["Images"][1]["Config"]["architecture"], "arm64");
    let one = json(&m.ok(&m.dir, &["image", "inspect", "--platform", "linux/arm64", "multi:1"]));
    assert_eq!(one[0]["Id"], arm.as_str());
    let err = m.fails(&m.dir, &["image", "inspect", "--platform", "linux/s390x", "multi:1"]);
    assert!(
        err.contains("multi:1 has no linux/s390x image (it has linux/amd64, linux/arm64): pull it with `slipway pull --platform linux/s390x multi:1`"),
        "{err}"
    );

    // One row per index (as `docker images`), its ID the index digest; the tree shows platforms.
    let images = m.ok(&m.dir, &["images", "--no-trunc"]);
    let rows: Vec<&str> = images.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{images}");
    assert!(rows[0].starts_with("multi") && rows[0].contains(&index_id), "{images}");
    let tree = m.ok(&m.dir, &["images", "--tree"]);
    let lines: Vec<Vec<&str>> = tree.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines.len(), 4, "{tree}");
    assert_eq!(lines[0], ["IMAGE", "ID", "SIZE"], "{tree}");
    assert_eq!(lines[1][..2], ["multi:1", &index_id[7..19]], "{tree}");
    assert_eq!(lines[2][..3], ["├─", "linux/amd64", &amd[7..19]], "{tree}");
    assert_eq!(lines[3][..3], ["└─", "linux/arm64", &arm[7..19]], "{tree}");
    // The ID (a prefix of it) names the index.
    let by_id = json(&m.ok(&m.dir, &["image", "inspect", &index_id[7..19]]));
    assert_eq!(by_id[0]["Id"], index_id.as_str());

    // Importing arm64 again replaces only its entry.
    std::fs::write(rootfs(&m.dir, "linux/arm64").join("etc/new"), "x").unwrap();
    let arm2 = m.ok(
        &m.dir,
        &[
            "image",
            "import",
            "--platform",
            "linux/arm64",
            rootfs(&m.dir, "linux/arm64").to_str().unwrap(),
            "--tag",
            "multi:1",
        ],
    );
    let again = json(&m.ok(&m.dir, &["image", "inspect", "multi:1"]));
    let ids: Vec<&str> = again[0]["Images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [amd.as_str(), arm2.trim()]);
    m.ok(&m.dir, &["prune"]);
    assert!(m
        .ok(&m.dir, &["image", "inspect", "--platform", "linux/amd64", "multi:1"])
        .contains(&amd));
    m.assert_store_clean();
    let err = m.fails(
        &m.dir,
        &[
            "image",
            "import",
            "--platform",
            "linux",
            m.dir.to_str().unwrap(),
            "--tag",
            "x",
        ],
    );
    assert!(err.contains("invalid platform \"linux\""), "{err}");
}

/// `image save --format oci` of an index writes the index (skopeo and umoci read it); a
/// docker archive holds the host's image and says so.
#[test]
fn an_index_exports_as_an_oci_index() {
    let test = "an_index_exports_as_an_oci_index";
    let dir = tempfile::tempdir().unwrap();
    let m = Machine::new(dir.path(), "a");
    for p in ["linux/amd64", "linux/arm64"] {
        m.ok(
            &m.dir,
            &[
                "image",
                "import",
                "--platform",
                p,
                rootfs(&m.dir, p).to_str().unwrap(),
                "--tag",
                "multi:1",
            ],
        );
    }
    let index_id = json(&m.ok(&m.dir, &["image", "inspect", "multi:1"]))[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let layout = m.dir.join("layout");
    m.ok(
        &m.dir,
        &[
            "image",
            "save",
            "--format",
            "oci",
            "-o",
            &format!("{}/", layout.display()),
            "multi:1",
        ],
    );
    let index_json = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let top = &index_json["manifests"][0];
    assert_eq!(top["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(top["annotations"]["org.opencontainers.image.ref.name"], "1");
    // Imported layers are compressed already: the index leaves as it is.
    assert_eq!(top["digest"], index_id.as_str());
    let blob = |d: &str| json(&std::fs::read_to_string(layout.join("blobs/sha256").join(&d[7..])).unwrap());
    let index = blob(top["digest"].as_str().unwrap());
    for entry in index["manifests"].as_array().unwrap() {
        let manifest = blob(entry["digest"].as_str().unwrap());
        let config = blob(manifest["config"]["digest"].as_str().unwrap());
        assert_eq!(config["architecture"], entry["platform"]["architecture"]);
        for l in manifest["layers"].as_array().unwrap() {
            assert!(layout
                .join("blobs/sha256")
                .join(&l["digest"].as_str().unwrap()[7..])
                .is_file());
        }
    }
    if have("skopeo", test) {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", &format!("oci:{}:1", layout.display())])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(&String::from_utf8_lossy(&out.stdout)), index);
        let out = Command::new("skopeo")
            .args([
                "--override-arch",
                "arm64",
                "inspect",
                &format!("oci:{}:1", layout.display()),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(&String::from_utf8_lossy(&out.stdout))["Architecture"], "arm64");
    }
    if have("umoci", test) {
        let out = Command::new("umoci")
            .args(["ls", "--layout", layout.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    }
    // Loaded back (a directory, and a tar of it): the same index, every platform.
    m.ok(&m.dir, &["image", "rm", "multi:1"]);
    let loaded = m.ok(&m.dir, &["image", "load", layout.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: multi:1"), "{loaded}");
    let back = json(&m.ok(&m.dir, &["image", "inspect", "multi:1"]));
    assert_eq!(back[0]["Id"], index_id.as_str());
    assert_eq!(back[0]["Images"].as_array().unwrap().len(), 2);
    let tar = m.dir.join("multi.tar");
    m.ok(
        &m.dir,
        &[
            "image",
            "save",
            "--format",
            "oci",
            "-o",
            tar.to_str().unwrap(),
            "multi:1",
        ],
    );
    m.ok(&m.dir, &["image", "rm", "multi:1"]);
    m.ok(&m.dir, &["image", "load", "-i", tar.to_str().unwrap()]);
    assert_eq!(
        json(&m.ok(&m.dir, &["image", "inspect", "multi:1"]))[0]["Id"],
        index_id.as_str()
    );
    m.assert_store_clean();

    // A docker archive: the host's image, with a note.
    let o = m.run(
        &m.dir,
        &["image", "save", "-o", m.dir.join("d.tar").to_str().unwrap(), "multi:1"],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("a docker archive holds one platform"), "{err}");
}

/// `push` of an index: the registry has the index (skopeo reads it raw), each platform's
/// manifest by digest; pulls per platform into an empty store make the same index.
#[test]
fn an_index_is_pushed_and_pulled_back_per_platform() {
    let test = "an_index_is_pushed_and_pulled_back_per_platform";
    let Some(reg) = Registry::start(test, None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = Machine::new(dir.path(), "a");
    for p in ["linux/amd64", "linux/arm64"] {
        a.ok(
            &a.dir,
            &[
                "image",
                "import",
                "--platform",
                p,
                rootfs(&a.dir, p).to_str().unwrap(),
                "--tag",
                "multi:1",
            ],
        );
    }
    let local = json(&a.ok(&a.dir, &["image", "inspect", "multi:1"]));
    let target = format!("{}/multi:1", reg.host());
    let pushed = a.ok(&a.dir, &["push", "multi:1", &target]);
    let index_id = local[0]["Id"].as_str().unwrap();
    assert!(pushed.contains(&format!("digest: {index_id}")), "{pushed}");

    if have("skopeo", test) {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{target}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let raw = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
        assert_eq!(raw, local[0]["Index"]);
        let platforms: Vec<String> = raw["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["platform"]["os"].as_str().unwrap(),
                    m["platform"]["architecture"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    }

    // An empty store: one platform, then the other, under one name.
    let b = Machine::new(dir.path(), "b");
    let out = b.ok(&b.dir, &["pull", "--platform", "linux/amd64", &target]);
    assert!(out.contains("(linux/amd64)"), "{out}");
    let one = json(&b.ok(&b.dir, &["image", "inspect", &target]));
    assert_eq!(
        one[0]["Config"]["architecture"], "amd64",
        "a single platform is a plain image"
    );
    let out = b.ok(&b.dir, &["pull", "--platform", "linux/arm64", &target]);
    assert!(out.contains("is an index now: linux/amd64, linux/arm64"), "{out}");
    let both = json(&b.ok(&b.dir, &["image", "inspect", &target]));
    assert_eq!(both[0]["Id"], index_id, "the same index as was pushed");
    assert_eq!(both[0]["Images"][1]["Id"], local[0]["Images"][1]["Id"]);
    // Pulling a platform again changes nothing.
    b.ok(&b.dir, &["pull", "--platform", "linux/arm64", &target]);
    assert_eq!(json(&b.ok(&b.dir, &["image", "inspect", &target]))[0]["Id"], index_id);
    let err = b.fails(&b.dir, &["pull", "--platform", "linux/s390x", &target]);
    assert!(
        err.contains("no image for linux/s390x (the index has linux/amd64, linux/arm64)"),
        "{err}"
    );
    b.assert_store_clean();
}

/// Foreign images run under QEMU: needs root, `qemu-user-static` registered through
/// binfmt_misc (the tests register it with `slipway binfmt --install` when they can) and
/// the arm64 busybox fixture (`scripts/arm64-busybox.sh`, Debian's arm64 busybox-static).
pub(crate) mod emulation {
    use super::*;
    use crate::build::can_run_containers;

    /// The arm64 busybox rootfs tar, made (and cached) by the script; None after a note.
    pub fn arm64_busybox(test: &str) -> Option<std::path::PathBuf> {
        let o = Command::new(crate::root().join("scripts/arm64-busybox.sh"))
            .output()
            .unwrap();
        if !o.status.success() {
            eprintln!(
                "note: skipping {test} (no arm64 busybox: scripts/arm64-busybox.sh failed: {})",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Some(String::from_utf8_lossy(&o.stdout).trim().into())
    }

    /// Whether linux/arm64 binaries run here (registering qemu when they do not yet).
    pub fn arm64_runs(test: &str) -> bool {
        let says = || {
            let o = crate::bin().arg("binfmt").output().unwrap();
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("linux/arm64 ") && (l.contains("emulated") || l.contains("native")))
        };
        if says() {
            return true;
        }
        let o = crate::bin().args(["binfmt", "--install"]).output().unwrap();
        if !says() {
            eprintln!(
                "note: skipping {test} (linux/arm64 cannot run here: `slipway binfmt --install` gave {}{}; apt-get install qemu-user-static)",
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return false;
        }
        true
    }

    /// amd64 and arm64 busybox imported under one name.
    fn two_busyboxes(m: &Machine, arm64: &Path) {
        let amd = m.dir.join("bb-amd64");
        std::fs::create_dir_all(amd.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", amd.join("bin/busybox")).unwrap();
        for a in ["sh", "uname", "cat"] {
            std::os::unix::fs::symlink("busybox", amd.join("bin").join(a)).unwrap();
        }
        m.ok(
            &m.dir,
            &[
                "image",
                "import",
                "--platform",
                "linux/amd64",
                amd.to_str().unwrap(),
                "--tag",
                "bb",
            ],
        );
        m.ok(
            &m.dir,
            &[
                "image",
                "import",
                "--platform",
                "linux/arm64",
                arm64.to_str().unwrap(),
                "--tag",
                "bb",
            ],
        );
    }

    fn ready(test: &str) -> Option<std::path::PathBuf> {
        if !can_run_containers(test) || std::env::consts::ARCH != "x86_64" {
            if std::env::consts::ARCH != "x86_64" {
                eprintln!("note: skipping {test} (written for an amd64 host)");
            }
            return None;
        }
        let tar = arm64_busybox(test)?;
        arm64_runs(test).then_some(tar)
    }

    #[test]
    fn run_platform_runs_the_arm64_image_of_an_index_under_qemu() {
        let test = "run_platform_runs_the_arm64_image_of_an_index_under_qemu";
        let Some(tar) = ready(test) else { return };
        let dir = tempfile::tempdir().unwrap();
        let m = Machine::new(dir.path(), "a");
        two_busyboxes(&m, &tar);
        assert_eq!(
            m.ok(
                &m.dir,
                &["run", "--rm", "--platform", "linux/arm64", "bb", "uname", "-m"]
            ),
            "aarch64\n"
        );
        assert_eq!(m.ok(&m.dir, &["run", "--rm", "bb", "uname", "-m"]), "x86_64\n");
        assert_eq!(
            m.ok(
                &m.dir,
                &[
                    "run",
                    "--rm",
                    "--platform",
                    "linux/aarch64",
                    "bb",
                    "sh",
                    "-c",
                    "echo $(uname -m) > /tmp/x; cat /tmp/x"
                ]
            ),
            "aarch64\n"
        );
        let err = m.fails(&m.dir, &["run", "--rm", "--platform", "linux/riscv64", "bb", "true"]);
        assert!(
            err.contains("bb has no linux/riscv64 image (it has linux/amd64, linux/arm64)"),
            "{err}"
        );
    }

    #[test]
    fn an_arm64_index_goes_through_a_registry_and_runs_after_a_pull() {
        let test = "an_arm64_index_goes_through_a_registry_and_runs_after_a_pull";
        let Some(tar) = ready(test) else { return };
        let Some(reg) = Registry::start(test, None) else { return };
        let dir = tempfile::tempdir().unwrap();
        let a = Machine::new(dir.path(), "a");
        two_busyboxes(&a, &tar);
        let target = format!("{}/bb:multi", reg.host());
        a.ok(&a.dir, &["push", "bb", &target]);
        if have("skopeo", test) {
            let out = Command::new("skopeo")
                .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{target}")])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let raw = json(&String::from_utf8_lossy(&out.stdout));
            let arches: Vec<&str> = raw["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["platform"]["architecture"].as_str().unwrap())
                .collect();
            assert_eq!(arches, ["amd64", "arm64"]);
        }
        let b = Machine::new(dir.path(), "b");
        b.ok(&b.dir, &["pull", "--platform", "linux/arm64", &target]);
        assert_eq!(
            b.ok(&b.dir, &["run", "--rm", &target, "uname", "-m"]),
            "aarch64\n",
            "a plain arm64 image runs emulated"
        );
        b.ok(&b.dir, &["pull", "--platform", "linux/amd64", &target]);
        assert_eq!(
            b.ok(&b.dir, &["run", "--rm", &target, "uname", "-m"]),
            "x86_64\n",
            "the index gives the host's"
        );
        assert_eq!(
            b.ok(
                &b.dir,
                &["run", "--rm", "--platform", "linux/arm64", &target, "uname", "-m"]
            ),
            "aarch64\n"
        );
    }
}

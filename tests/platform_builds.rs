//! `slipway build --platform` (issue 16): one build for several platforms, one image index;
//! a stage pinned to `$BUILDPLATFORM` runs natively for every target and hands its result
//! to each; the TARGET* ARGs have each target's values; a base image of the wrong platform
//! is warned about (BuildKit's InvalidBaseImagePlatform). RUN under emulation is tested in
//! `platforms::emulation` (it needs binfmt_misc and QEMU).

use crate::{slipway_in, text};
use std::io::Read;
use std::path::Path;

/// This machine's platform and one it cannot run natively.
fn host_and_foreign() -> (String, String) {
    let host = slipway_store::platform::Platform::host().to_string();
    let foreign = if host == "linux/arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    (host, foreign.to_string())
}

/// A root filesystem with one file, imported as `name` for `platform`.
fn import_plain(store: &Path, dir: &Path, name: &str, platform: &str) {
    let r = dir.join(format!("plain-{}", platform.replace('/', "-")));
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/platform"), platform).unwrap();
    let o = slipway_in(
        store,
        dir,
        &[
            "image",
            "import",
            "--platform",
            platform,
            r.to_str().unwrap(),
            "--tag",
            name,
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The contents of `path` in the layers of the image for `platform` in an OCI layout.
fn file_in_layout(layout: &Path, platform: &str, path: &str) -> Option<String> {
    let blob =
        |digest: &str| std::fs::read(layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))).unwrap();
    let index = json(&std::fs::read_to_string(layout.join("index.json")).unwrap());
    let top = json(std::str::from_utf8(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap());
    let entry = top["manifests"]
        .as_array()
        .expect("the layout's image is an index")
        .iter()
        .find(|m| {
            let p = &m["platform"];
            format!("{}/{}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap()) == platform
        })?
        .clone();
    let manifest = json(std::str::from_utf8(&blob(entry["digest"].as_str().unwrap())).unwrap());
    let mut found = None;
    for layer in manifest["layers"].as_array().unwrap() {
        let raw = blob(layer["digest"].as_str().unwrap());
        let mut plain = Vec::new();
        if layer["mediaType"].as_str().unwrap().ends_with("gzip") {
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut plain)
                .unwrap();
        } else {
            plain = raw;
        }
        let mut archive = tar::Archive::new(&plain[..]);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy().trim_start_matches("./") == path.trim_start_matches('/') {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                found = Some(s);
            }
        }
    }
    found
}

#[test]
fn a_two_platform_build_is_one_index_with_a_native_build_stage() {
    if !crate::build::can_run_containers("a_two_platform_build_is_one_index_with_a_native_build_stage") {
        return;
    }
    let (host, foreign) = host_and_foreign();
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    // `bb`: busybox for this machine, a plain file tree for the foreign one (nothing runs
    // in it: the only RUN is in the stage pinned to the build platform).
    crate::build::import_busybox(&store, d.path());
    import_plain(&store, d.path(), "bb", &foreign);
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM --platform=$BUILDPLATFORM bb AS tools\n\
         ARG TARGETARCH BUILDPLATFORM\n\
         RUN echo \"built on $BUILDPLATFORM for $TARGETARCH\" > /tool\n\
         FROM bb\n\
         ARG TARGETARCH TARGETPLATFORM\n\
         COPY --from=tools /tool /tool\n\
         LABEL arch=$TARGETARCH platform=$TARGETPLATFORM\n",
    )
    .unwrap();
    let layout = d.path().join("layout");
    let platforms = format!("{host},{foreign}");
    let output = format!("type=oci,dest={}", layout.display());
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "build",
            "--platform",
            &platforms,
            "-t",
            "app:1",
            "--output",
            &output,
            "--progress",
            "plain",
            ".",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains(&format!("building for {foreign} (2/2)")), "{err}");
    let id = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    assert!(out.contains("Successfully tagged app:1"), "{out}");

    // One name, one index (its digest the ID), one image per platform with that
    // platform's config and labels.
    let inspect = json(&text(&slipway_in(&store, &ctx, &["image", "inspect", "app:1"])).0);
    assert_eq!(
        inspect[0]["Descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(inspect[0]["Id"].as_str().unwrap().contains(&id), "{inspect}");
    let images = inspect[0]["Images"].as_array().unwrap();
    let listed: Vec<&str> = images.iter().map(|i| i["Platform"].as_str().unwrap()).collect();
    assert_eq!(listed, [host.as_str(), foreign.as_str()]);
    for p in [&host, &foreign] {
        let one = json(
            &text(&slipway_in(
                &store,
                &ctx,
                &["image", "inspect", "--platform", p, "app:1"],
            ))
            .0,
        );
        let config = &one[0]["Config"];
        let arch = p.rsplit('/').next().unwrap();
        assert_eq!(config["architecture"], arch, "{one}");
        assert_eq!(config["config"]["Labels"]["arch"], arch, "{one}");
        assert_eq!(config["config"]["Labels"]["platform"], p.as_str(), "{one}");
    }

    // The pinned stage ran on this machine for each target, with that target's TARGETARCH,
    // and its result is in each platform's image.
    for p in [&host, &foreign] {
        let tool = file_in_layout(&layout, p, "/tool").unwrap_or_else(|| panic!("no /tool for {p}"));
        assert_eq!(
            tool.trim(),
            format!("built on {host} for {}", p.rsplit('/').next().unwrap())
        );
    }

    // The host's image runs; built again, every step of both platforms comes from the cache.
    let o = slipway_in(
        &store,
        &ctx,
        &["run", "--rm", "--network", "none", "app:1", "cat", "/tool"],
    );
    assert_eq!(
        text(&o).0.trim(),
        format!("built on {host} for {}", host.rsplit('/').next().unwrap())
    );
    let o = slipway_in(
        &store,
        &ctx,
        &["plan", "--platform", &platforms, "--format", "json", "."],
    );
    let plans = json(&text(&o).0);
    for plan in plans["platforms"].as_array().unwrap() {
        assert_eq!(plan["summary"]["misses"], 0, "{plan}");
    }
    let o = slipway_in(
        &store,
        &ctx,
        &["build", "--platform", &platforms, "-t", "app:1", "-q", "."],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(
        text(&o).0.trim().ends_with(&id) || text(&o).0.contains(&id),
        "same index: {}",
        text(&o).0
    );
}

#[test]
fn a_base_of_another_platform_is_warned_about() {
    let (_, foreign) = host_and_foreign();
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_plain(&store, d.path(), "other", &foreign);
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM other\nLABEL a=b\n").unwrap();
    let o = slipway_in(&store, &ctx, &["build", "-t", "x", "."]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        err.contains(&format!(
            "InvalidBaseImagePlatform: Base image other was pulled with platform \"{foreign}\", expected \"{}\"",
            slipway_store::platform::Platform::host()
        )),
        "{err}"
    );
    // Asked for that platform, the same base is right: no warning.
    let o = slipway_in(&store, &ctx, &["build", "--platform", &foreign, "-t", "x", "."]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(!err.contains("InvalidBaseImagePlatform"), "{err}");
}

/// The cross-compilation pattern with a foreign target: the `$BUILDPLATFORM` stage runs
/// natively, the target stage's RUN under QEMU (its `uname -m` is the target's), the index
/// pushed to a loopback registry is an index there (skopeo), and pulled per platform.
#[test]
fn a_foreign_target_runs_its_run_steps_under_emulation_and_goes_through_a_registry() {
    let test = "a_foreign_target_runs_its_run_steps_under_emulation_and_goes_through_a_registry";
    if !crate::build::can_run_containers(test) || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let Some(arm64) = crate::platforms::emulation::arm64_busybox(test) else {
        return;
    };
    if !crate::platforms::emulation::arm64_runs(test) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    crate::build::import_busybox(&store, d.path());
    let o = slipway_in(
        &store,
        d.path(),
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
    assert!(o.status.success(), "{}", text(&o).1);
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM --platform=$BUILDPLATFORM bb AS tools\n\
         ARG TARGETARCH\n\
         RUN echo \"tool for $TARGETARCH built on $(uname -m)\" > /tool\n\
         FROM bb\n\
         ARG TARGETARCH\n\
         RUN echo \"RUN on $(uname -m) for $TARGETARCH\" > /final\n\
         COPY --from=tools /tool /tool\n\
         CMD [\"cat\", \"/tool\", \"/final\"]\n",
    )
    .unwrap();
    let Some(registry) = crate::registry::Registry::start(test, None) else {
        return;
    };
    let name = format!("{}/multi/app:1", registry.host());
    let o = slipway_in(
        &store,
        &ctx,
        &[
            "build",
            "--platform",
            "linux/amd64,linux/arm64",
            "-t",
            &name,
            "--push",
            "--progress",
            "plain",
            ".",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(err.contains("RUN steps for linux/arm64 run under emulation"), "{err}");
    // Each platform's image says where its steps ran.
    for (platform, lines) in [
        (
            "linux/amd64",
            ["tool for amd64 built on x86_64", "RUN on x86_64 for amd64"],
        ),
        (
            "linux/arm64",
            ["tool for arm64 built on x86_64", "RUN on aarch64 for arm64"],
        ),
    ] {
        let o = slipway_in(
            &store,
            &ctx,
            &["run", "--rm", "--network", "none", "--platform", platform, &name],
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{platform}: {err}");
        assert_eq!(out.lines().collect::<Vec<_>>(), lines, "{platform}");
    }
    // In the registry: an index of both platforms, which skopeo reads.
    if let Ok(o) = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false", &format!("docker://{name}")])
        .output()
    {
        if o.status.success() {
            let raw = json(&String::from_utf8_lossy(&o.stdout));
            assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json", "{raw}");
            let archs: Vec<&str> = raw["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["platform"]["architecture"].as_str().unwrap())
                .collect();
            assert_eq!(archs, ["amd64", "arm64"]);
        }
    }
    // An empty store pulls the arm64 image back and runs it.
    let other = d.path().join("other");
    let o = slipway_in(&other, d.path(), &["pull", "--platform", "linux/arm64", &name]);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = slipway_in(
        &other,
        d.path(),
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--platform",
            "linux/arm64",
            &name,
            "uname",
            "-m",
        ],
    );
    assert_eq!(text(&o).0.trim(), "aarch64", "{}", text(&o).1);
}

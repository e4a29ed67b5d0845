//! Issue 14, one test per behaviour: the image `slipway build` makes has the files, owners,
//! links, times and config Docker/BuildKit give (`tests/differential.rs` compares with a
//! real Docker daemon; these run without one). Needs root and /bin/busybox; skips otherwise.

use crate::build::{can_run_containers, import_busybox};
use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

/// One entry of a flattened image: kind (`f`, `d`, `l`, `h`), mode, uid, gid, mtime, data
/// (content or link target).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    data: String,
}

struct Built {
    files: BTreeMap<String, Entry>,
    config: serde_json::Value,
    /// Layers, per the manifest.
    layers: usize,
}

/// Builds `dockerfile` with `files` (path, content) in a context whose entries are dated
/// 2020-09-13 (1600000000); returns the image, flattened from its docker archive.
fn build(name: &str, dockerfile: &str, files: &[(&str, &str)], args: &[&str]) -> Option<Built> {
    if !can_run_containers(name) {
        return None;
    }
    let d = tempfile::tempdir().unwrap();
    let store = d.path().join("store");
    import_busybox(&store, d.path());
    let ctx = d.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    for (path, content) in files {
        let p = ctx.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if let Some(target) = content.strip_prefix("-> ") {
            std::os::unix::fs::symlink(target, &p).unwrap();
        } else if let Some(existing) = content.strip_prefix("=> ") {
            std::fs::hard_link(ctx.join(existing), &p).unwrap();
        } else {
            std::fs::write(&p, content).unwrap();
        }
    }
    let o = Command::new("find")
        .arg(&ctx)
        .args(["-exec", "touch", "-h", "-d", "@1600000000", "{}", "+"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let archive = d.path().join("image.tar");
    let mut cmd = crate::bin();
    cmd.args(["build", "-q", "--output"])
        .arg(format!("type=docker,dest={}", archive.display()));
    for a in args {
        cmd.args(["--build-arg", a]);
    }
    let o = cmd
        .arg(&ctx)
        .env("SLIPWAY_ROOT", &store)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(flatten(&std::fs::read(&archive).unwrap()))
}

/// A docker archive's image: its config and its layers applied in order (whiteouts too).
fn flatten(archive: &[u8]) -> Built {
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for e in tar::Archive::new(archive).entries().unwrap() {
        let mut e = e.unwrap();
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        members.insert(e.path().unwrap().display().to_string(), buf);
    }
    let manifest: serde_json::Value = serde_json::from_slice(&members["manifest.json"]).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&members[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let mut files = BTreeMap::new();
    for layer in layers {
        for e in tar::Archive::new(&members[layer.as_str().unwrap()][..])
            .entries()
            .unwrap()
        {
            let mut e = e.unwrap();
            let path = format!("/{}", e.path().unwrap().display().to_string().trim_end_matches('/'));
            let (dir, name) = path.rsplit_once('/').unwrap();
            if name == ".wh..wh..opq" {
                files.retain(|p: &String, _| !p.starts_with(&format!("{dir}/")));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = format!("{dir}/{hidden}");
                files.retain(|p: &String, _| *p != gone && !p.starts_with(&format!("{gone}/")));
                continue;
            }
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            let mut data = String::new();
            if kind == 'f' {
                e.read_to_string(&mut data).unwrap_or_default();
            } else if kind != 'd' {
                data = e.link_name().unwrap().unwrap().display().to_string();
            }
            files.insert(
                path,
                Entry {
                    kind,
                    mode: h.mode().unwrap() & 0o7777,
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    mtime: h.mtime().unwrap(),
                    data,
                },
            );
        }
    }
    Built {
        files,
        config,
        layers: layers.len(),
    }
}

fn get<'a>(b: &'a Built, path: &str) -> &'a Entry {
    b.files
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not in the image: {:?}", b.files.keys().collect::<Vec<_>>()))
}

#[test]
fn copy_of_one_source_into_an_existing_directory_lands_inside_it() {
    let Some(b) = build(
        "copy_of_one_source_into_an_existing_directory_lands_inside_it",
        "FROM bb\nWORKDIR /app\nCOPY package.json .\nCOPY a.txt /etc\nADD a.txt /bin\n",
        &[("package.json", "{}"), ("a.txt", "a")],
        &[],
    ) else {
        return;
    };
    assert_eq!(get(&b, "/app/package.json").data, "{}");
    assert_eq!(get(&b, "/etc/a.txt").kind, 'f');
    assert_eq!(get(&b, "/etc").kind, 'd');
    assert_eq!(get(&b, "/bin/a.txt").data, "a");
    assert_eq!(get(&b, "/bin/sh").kind, 'l', "the directory is kept, not replaced");
}

#[test]
fn symlinks_named_as_sources_are_followed_links_inside_copied_dirs_stay() {
    let Some(b) = build(
        "symlinks_named_as_sources_are_followed_links_inside_copied_dirs_stay",
        "FROM bb\nCOPY link /x\nCOPY dirlink /y\nCOPY d /z\n",
        &[
            ("target.txt", "t"),
            ("link", "-> target.txt"),
            ("d/a", "a"),
            ("d/l", "-> a"),
            ("dirlink", "-> d"),
        ],
        &[],
    ) else {
        return;
    };
    assert_eq!((get(&b, "/x").kind, get(&b, "/x").data.as_str()), ('f', "t"));
    assert_eq!(get(&b, "/y").kind, 'd');
    assert_eq!(get(&b, "/y/a").data, "a");
    assert_eq!((get(&b, "/z/l").kind, get(&b, "/z/l").data.as_str()), ('l', "a"));
}

#[test]
fn run_sees_args_as_buildkit_sets_them() {
    let Some(b) = build(
        "run_sees_args_as_buildkit_sets_them",
        "ARG G=global\nFROM bb\nARG G\nARG NONE\nARG D=default\n\
         RUN echo \"[$G][${NONE-unset}][$D][$HTTP_PROXY][$no_proxy]\" > /out\n",
        &[],
        &["HTTP_PROXY=http://proxy:3128", "no_proxy=example.com"],
    ) else {
        return;
    };
    // An ARG with neither value nor build-arg is not set; a bare ARG takes the global value;
    // proxies come from --build-arg without an ARG.
    assert_eq!(
        get(&b, "/out").data,
        "[global][unset][default][http://proxy:3128][example.com]\n"
    );
    let text = b.config.to_string();
    assert!(
        !text.contains("proxy:3128") && !text.contains("example.com"),
        "proxy args leak into the config or history: {text}"
    );
}

#[test]
fn chown_owners_as_buildkit_gives_them() {
    let Some(b) = build(
        "chown_owners_as_buildkit_gives_them",
        "FROM bb\nCOPY --chown=1234 a.txt /one/\nCOPY --chown=nobody a.txt /p/q/\n\
         USER 4321\nWORKDIR /w/x\n",
        &[("a.txt", "a")],
        &[],
    ) else {
        return;
    };
    let owner = |p: &str| (get(&b, p).uid, get(&b, p).gid);
    // A bare uid is the group too.
    assert_eq!(owner("/one/a.txt"), (1234, 1234));
    assert_eq!(owner("/one"), (1234, 1234), "a created destination takes the owner");
    // A name: its uid and primary gid; every directory made for the destination too.
    assert_eq!(owner("/p/q/a.txt"), (65534, 65534));
    assert_eq!(owner("/p"), (65534, 65534));
    assert_eq!(owner("/p/q"), (65534, 65534));
    // WORKDIR under USER: every directory it makes is the user's.
    assert_eq!(owner("/w"), (4321, 4321));
    assert_eq!(owner("/w/x"), (4321, 4321));
}

#[test]
fn hard_links_in_the_context_stay_hard_links() {
    let Some(b) = build(
        "hard_links_in_the_context_stay_hard_links",
        "FROM bb\nCOPY d /d\n",
        &[("d/a", "shared"), ("d/b", "=> d/a")],
        &[],
    ) else {
        return;
    };
    assert_eq!(get(&b, "/d/a").kind, 'f');
    assert_eq!((get(&b, "/d/b").kind, get(&b, "/d/b").data.as_str()), ('h', "d/a"));
}

#[test]
fn healthcheck_exec_form_and_expose_ranges_as_docker_stores_them() {
    let Some(b) = build(
        "healthcheck_exec_form_and_expose_ranges_as_docker_stores_them",
        "FROM bb\nHEALTHCHECK CMD [\"ls\", \"/\"]\nEXPOSE 8000-8002/TCP 53/udp\n",
        &[],
        &[],
    ) else {
        return;
    };
    let c = &b.config["config"];
    assert_eq!(c["Healthcheck"]["Test"], serde_json::json!(["CMD", "ls", "/"]));
    let ports: Vec<&String> = c["ExposedPorts"].as_object().unwrap().keys().collect();
    assert_eq!(ports, ["53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]);
}

#[test]
fn layers_keep_the_files_times_and_source_date_epoch_clamps_newer_ones() {
    let df = "FROM bb\nCOPY d /p/d\nRUN echo x > /new && echo y > /old && /bin/busybox touch -d @1234567890 /old\n";
    let files = [("d/a", "a"), ("d/s/b", "b")];
    let name = "layers_keep_the_files_times_and_source_date_epoch_clamps_newer_ones";
    let Some(b) = build(name, df, &files, &[]) else {
        return;
    };
    // COPY keeps the context's times (a copied directory's too, the destination gets the
    // source directory's as BuildKit gives it), RUN its own write times.
    assert_eq!(get(&b, "/p/d/a").mtime, 1_600_000_000);
    assert_eq!(get(&b, "/p/d/s").mtime, 1_600_000_000);
    assert_eq!(get(&b, "/p/d").mtime, 1_600_000_000);
    assert!(
        get(&b, "/p").mtime > 1_700_000_000,
        "a directory the step made: its time"
    );
    assert_eq!(get(&b, "/old").mtime, 1_234_567_890);
    assert!(get(&b, "/new").mtime > 1_700_000_000);
    // SOURCE_DATE_EPOCH clamps what is newer, keeps what is older.
    let b = build(name, df, &files, &["SOURCE_DATE_EPOCH=1650000000"]).unwrap();
    assert_eq!(get(&b, "/new").mtime, 1_650_000_000);
    assert_eq!(get(&b, "/p").mtime, 1_650_000_000);
    assert_eq!(get(&b, "/p/d/a").mtime, 1_600_000_000);
    assert_eq!(get(&b, "/old").mtime, 1_234_567_890);
}

#[test]
fn empty_steps_add_history_but_no_layer() {
    let Some(b) = build(
        "empty_steps_add_history_but_no_layer",
        "FROM bb\nRUN true\nWORKDIR /etc\nRUN echo x > /x\n",
        &[],
        &[],
    ) else {
        return;
    };
    // The base and the one RUN that wrote something.
    assert_eq!(b.layers, 2);
    let history = b.config["history"].as_array().unwrap();
    let empty_of = |step: &str| {
        history
            .iter()
            .find(|h| h["created_by"].as_str().unwrap_or_default().contains(step))
            .map(|h| h["empty_layer"] == true)
            .unwrap_or_else(|| panic!("no history of {step}: {history:?}"))
    };
    assert!(empty_of("RUN /bin/sh -c true"));
    assert!(empty_of("WORKDIR /etc"));
    assert!(!empty_of("echo x > /x"));
}

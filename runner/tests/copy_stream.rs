//! COPY and ADD stream their sources straight into the layer tar. This builds the same
//! COPY/ADD steps both ways (streamed, and materialised in an upper dir on disk and tarred
//! from it, as before streaming) and asserts the same layers, case by case: the test that
//! keeps the streamed path honest. Needs root (ownership, the base image's owners).

use slipway_planner::request::{plan_request, Request};
use slipway_runner::build::{build, BuildOptions};
use slipway_runner::image;
use slipway_store::Store;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A base image with users, a `/lib -> usr/lib` link, an absolute link, and directories
/// whose owners and modes a COPY copies up.
fn base(stores: &[&Store], dir: &Path) {
    let root = dir.join("rootfs");
    for d in ["etc", "usr/lib/deep", "srv", "opt"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\napp:x:1001:\nstaff:x:50:\n").unwrap();
    symlink("usr/lib", root.join("lib")).unwrap();
    symlink("/usr", root.join("abs")).unwrap();
    fs::set_permissions(root.join("usr/lib"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(root.join("usr/lib"), Some(5), Some(6)).unwrap();
    fs::set_permissions(root.join("srv"), fs::Permissions::from_mode(0o1770)).unwrap();
    std::os::unix::fs::chown(root.join("srv"), Some(7), Some(8)).unwrap();
    fs::write(root.join("opt/file"), "a file where a COPY makes a directory").unwrap();
    for store in stores {
        image::import(store, &root, "base").unwrap();
    }
}

fn context(ctx: &Path) {
    fs::create_dir_all(ctx.join("tree/sub/empty")).unwrap();
    fs::write(ctx.join("a.txt"), "a\n").unwrap();
    fs::write(ctx.join("b.txt"), vec![b'b'; 200_000]).unwrap();
    fs::write(ctx.join("tree/x.txt"), "x\n").unwrap();
    fs::write(ctx.join("tree/y.md"), "# y\n").unwrap();
    fs::write(ctx.join("tree/sub/s.txt"), "s\n").unwrap();
    fs::write(ctx.join("tree/sub/u.md"), "u\n").unwrap();
    fs::write(
        ctx.join(format!("tree/sub/{}.txt", "long".repeat(40))),
        "a name over 100 bytes\n",
    )
    .unwrap();
    fs::hard_link(ctx.join("tree/x.txt"), ctx.join("tree/hard")).unwrap();
    fs::set_permissions(ctx.join("tree/sub/s.txt"), fs::Permissions::from_mode(0o751)).unwrap();
    symlink("x.txt", ctx.join("tree/link")).unwrap();
    symlink("a.txt", ctx.join("ctxlink")).unwrap();
    fs::create_dir_all(ctx.join("a-b")).unwrap();
    fs::write(ctx.join("a-b/f"), "sorts after a/ by name, before it by path\n").unwrap();
    // A tar archive: ADD unpacks it (through the upper dir in both builds).
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o640);
    h.set_cksum();
    t.append_data(&mut h, "inside/arch.txt", &b"hi\n"[..]).unwrap();
    fs::write(ctx.join("arch.tar"), t.into_inner().unwrap()).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        r#"FROM base AS src
COPY tree/ /srcdir/
COPY --chown=app:staff a-b /srcdir/a-b

FROM src
ARG WHO=world
COPY a.txt /
COPY a.txt b.txt /multi/
COPY tree/ /data/
COPY tree /data2
COPY --chown=app tree/ /owned/
COPY --chown=1234:77 --chmod=4750 a.txt /lib/x/
COPY a.txt /abs/lib/deep/viaabs.txt
COPY a.txt /srv/
COPY a.txt /usr/lib/deep/new/er/
COPY a.txt /opt/file/
COPY t*/ /wild/
COPY t*/s* /wild2/
COPY --exclude=*.md --exclude=sub/u.md tree/ /excl/
COPY --parents tree/sub/*.txt /par/
COPY --parents tree/./sub/ /par2/
COPY ctxlink /ln
COPY a.txt a-b /mixed/
COPY --from=src /srcdir/ /fromstage/
COPY --from=src /srcdir/sub/*.txt /fromglob/
COPY --from=src --chown=0:50 /srcdir/a-b /fromowned
COPY --from=base /etc/passwd /from-image/
COPY --from=src /srcdir/sub/ /
COPY <<EOF /here.txt
hello $WHO
EOF
COPY <<A <<'B' /heres/
a $WHO
A
b $WHO
B
ADD a.txt /added/
ADD --chmod=600 tree/sub /added-dir
ADD arch.tar /unpacked/
WORKDIR /w
COPY a.txt rel/
COPY tree/sub/s.txt ./s
COPY tree/ /last/
"#,
    )
    .unwrap();
}

/// Builds the context's Dockerfile (no cache); returns its layers (digest, diff_id).
fn layers(store: &Store, ctx: &Path, materialise_copies: bool) -> Vec<(String, String)> {
    let request = Request {
        context: ctx.to_path_buf(),
        no_cache: true,
        ..Request::default()
    };
    let planned = match plan_request(&request, store) {
        Ok(p) => p,
        Err(e) => panic!("no plan: {e:?}"),
    };
    // The two builds run at different times: what each makes now (new directories) is
    // clamped to one time, the sources' own (older) times are kept.
    let options = BuildOptions {
        progress: slipway_runner::progress::Mode::Quiet,
        materialise_copies,
        build_args: vec![("SOURCE_DATE_EPOCH".into(), "1650000000".into())],
        ..BuildOptions::default()
    };
    let built = build(store, &planned, &options).unwrap_or_else(|e| panic!("build failed: {e}"));
    let image = image::load(store, None, built.manifest).unwrap();
    image
        .manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(l, d)| (l.digest.to_string(), d.to_string()))
        .collect()
}

#[test]
fn streamed_copy_layers_equal_materialised_ones() {
    if !is_root() {
        eprintln!("note: skipping (needs root: the layers hold files of other owners)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ctx = d.path().join("ctx");
    context(&ctx);
    // Each context entry its own time, before the clamp.
    let o = std::process::Command::new("find")
        .arg(&ctx)
        .args([
            "-depth",
            "-exec",
            "sh",
            "-c",
            "touch -h -d @$((1600000000 + $(stat -c %i \"$1\") % 100000)) \"$1\"",
            "sh",
            "{}",
            ";",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (disk, streamed) = (
        Store::open(d.path().join("disk")).unwrap(),
        Store::open(d.path().join("streamed")).unwrap(),
    );
    base(&[&disk, &streamed], d.path());
    let want = layers(&disk, &ctx, true);
    let got = layers(&streamed, &ctx, false);
    let steps: Vec<&str> = fs::read_to_string(ctx.join("Dockerfile"))
        .unwrap()
        .leak()
        .lines()
        .filter(|l| l.starts_with("COPY") || l.starts_with("ADD") || l.starts_with("WORKDIR"))
        .collect();
    assert_eq!(want.len(), got.len());
    // The base image's layer, then one per step.
    assert_eq!(want.len(), 1 + steps.len());
    for (i, (w, g)) in want.iter().zip(&got).enumerate().skip(1) {
        assert_eq!(w, g, "layer {i} ({}) differs", steps[i - 1]);
    }
    // What some forms wrote (the same both ways, checked above). Regression: a directory
    // was copied whole, so --exclude did not apply below the first level and --parents
    // copied unmatched files; --parents dropped the leading dirs and panicked on `/./`.
    let listing = |step: &str| -> Vec<String> {
        let i = steps.iter().position(|s| *s == step).unwrap() + 1;
        let digest: slipway_store::Digest = got[i].0.parse().unwrap();
        let blob = fs::File::open(streamed.blob_path(&digest)).unwrap();
        let mut a = tar::Archive::new(flate2::read::MultiGzDecoder::new(blob));
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                format!(
                    "{} {:o} {}:{}",
                    e.path().unwrap().display(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap()
                )
            })
            .filter(|l| !l.contains("longlong"))
            .collect()
    };
    assert_eq!(
        listing("COPY --exclude=*.md --exclude=sub/u.md tree/ /excl/"),
        [
            "excl 755 0:0",
            "excl/hard 644 0:0",
            "excl/link 777 0:0",
            "excl/sub 755 0:0",
            "excl/sub/empty 755 0:0",
            "excl/sub/s.txt 751 0:0",
            "excl/x.txt 644 0:0"
        ]
    );
    assert_eq!(
        listing("COPY --parents tree/sub/*.txt /par/"),
        [
            "par 755 0:0",
            "par/tree 755 0:0",
            "par/tree/sub 755 0:0",
            "par/tree/sub/s.txt 751 0:0"
        ]
    );
    assert_eq!(
        listing("COPY --parents tree/./sub/ /par2/"),
        [
            "par2 755 0:0",
            "par2/sub 755 0:0",
            "par2/sub/empty 755 0:0",
            "par2/sub/s.txt 751 0:0",
            "par2/sub/u.md 644 0:0"
        ]
    );
    assert_eq!(
        listing("COPY --chown=1234:77 --chmod=4750 a.txt /lib/x/"),
        [
            "usr 755 0:0",
            "usr/lib 750 5:6",
            // A created destination takes the --chmod mode's permission bits (BuildKit).
            "usr/lib/x 750 1234:77",
            "usr/lib/x/a.txt 4750 1234:77"
        ]
    );
    // The last step streamed its layer and nothing needed it unpacked.
    let last = got.last().unwrap().1.trim_start_matches("sha256:").to_string();
    assert!(!streamed.root().join("layers").join(&last).exists());
    assert!(disk.root().join("layers").join(&last).exists());
}

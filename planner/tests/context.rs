//! The build context: `.dockerignore` during the scan, symlinks, content
//! digests, the stat cache, and COPY/ADD source selection as BuildKit does it.

use slipway_planner::context::{Context, EntryKind, ScanOptions, SelectError};
use slipway_planner::dockerignore::DockerIgnore;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tempfile::TempDir;

/// A context from specs: `a/b.txt` (a file whose content is its path),
/// `a/b.txt = text`, `dir/` (an empty directory), `link -> target`.
fn tree(specs: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for spec in specs {
        let root = dir.path();
        if let Some((path, target)) = spec.split_once(" -> ") {
            make_parent(root, path);
            std::os::unix::fs::symlink(target, root.join(path)).unwrap();
        } else if let Some((path, text)) = spec.split_once(" = ") {
            make_parent(root, path);
            fs::write(root.join(path), text).unwrap();
        } else if let Some(path) = spec.strip_suffix('/') {
            fs::create_dir_all(root.join(path)).unwrap();
        } else {
            make_parent(root, spec);
            fs::write(root.join(spec), spec).unwrap();
        }
    }
    dir
}

fn make_parent(root: &Path, path: &str) {
    if let Some(parent) = root.join(path).parent() {
        fs::create_dir_all(parent).unwrap();
    }
}

fn scan_with(dir: &Path, dockerignore: &str, cache: Option<&Path>) -> Context {
    let options = ScanOptions {
        dockerignore: Some(DockerIgnore::parse(dockerignore).unwrap()),
        stat_cache: cache.map(Path::to_path_buf),
        threads: 2,
    };
    Context::scan(dir, &options).unwrap()
}

fn scan(dir: &Path, dockerignore: &str) -> Context {
    scan_with(dir, dockerignore, None)
}

/// The context's paths, directories with a trailing `/`, symlinks with their target.
fn listing(ctx: &Context) -> String {
    ctx.entries().map(show).collect::<Vec<_>>().join(" ")
}

fn show(e: &slipway_planner::context::FileEntry) -> String {
    match e.kind {
        EntryKind::Dir => format!("{}/", e.path),
        EntryKind::Symlink => format!("{}->{}", e.path, e.link_target.as_deref().unwrap_or("")),
        _ => e.path.clone(),
    }
}

/// What COPY selects, shown as `listing` does.
fn select(ctx: &Context, sources: &[&str], excludes: &[&str], parents: bool) -> String {
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    let excludes: Vec<String> = excludes.iter().map(|s| s.to_string()).collect();
    match ctx.select(&sources, &excludes, parents) {
        Ok(sel) => sel.files.iter().map(show).collect::<Vec<_>>().join(" "),
        Err(e) => format!("error: {e}"),
    }
}

fn digest(ctx: &Context, sources: &[&str]) -> String {
    let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    ctx.select(&sources, &[], false).unwrap().digest()
}

fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::open(path).unwrap();
    f.set_times(fs::FileTimes::new().set_modified(t)).unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Files changed within the last moments are not trusted to the stat cache
/// (their timestamps could still hide a change); let them age first.
fn settle() {
    std::thread::sleep(Duration::from_millis(120));
}

// ---------------------------------------------------------------- .dockerignore

/// Docker's documented example: `*/temp*`, `*/*/temp*`, `temp?`.
#[test]
fn dockerignore_documented_example_through_the_scan() {
    let dir = tree(&[
        "somedir/temporary.txt",
        "somedir/temp",
        "somedir/subdir/temporary.txt",
        "somedir/keep.txt",
        "tempa",
        "temp",
        "temporary.txt",
        "a/b/c/temp",
    ]);
    let ctx = scan(dir.path(), "# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    assert_eq!(
        listing(&ctx),
        "a/ a/b/ a/b/c/ a/b/c/temp somedir/ somedir/keep.txt somedir/subdir/ temp temporary.txt"
    );
}

/// `**` matches any number of directories, including none.
#[test]
fn dockerignore_double_star() {
    let dir = tree(&[
        "main.go",
        "a/b/c/lib.go",
        "a/b/c/lib.rs",
        "node_modules/x/y.js",
        "node_modulesx",
    ]);
    let ctx = scan(dir.path(), "**/*.go\nnode_modules/**\n");
    // `node_modules/**` matches what is under `node_modules/`, not the directory itself.
    assert_eq!(listing(&ctx), "a/ a/b/ a/b/c/ a/b/c/lib.rs node_modules/ node_modulesx");
}

/// Docker's documented exceptions: `*.md`, `!README*.md`, `README-secret.md`; the last match wins.
#[test]
fn dockerignore_exceptions_re_include() {
    let dir = tree(&["CHANGES.md", "README.md", "README-secret.md", "main.c"]);
    let ctx = scan(dir.path(), "*.md\n!README*.md\nREADME-secret.md\n");
    assert_eq!(listing(&ctx), "README.md main.c");
    let ctx = scan(dir.path(), "*.md\nREADME-secret.md\n!README*.md\n");
    assert_eq!(listing(&ctx), "README-secret.md README.md main.c");
}

/// An excluded directory is still walked when a `!` pattern names something
/// under it, and is kept (as the parent of what came back) only then.
#[test]
fn excluded_directories_are_walked_for_exceptions() {
    let dir = tree(&["docs/guide.md", "docs/keep.md", "docs/sub/deep.md", "other/x"]);
    let ctx = scan(dir.path(), "docs\nother\n!docs/keep.md\n");
    assert_eq!(listing(&ctx), "docs/ docs/keep.md");
    // A wildcard in an exception makes every excluded directory worth walking.
    let dir = tree(&["build/a/keep", "build/a/drop", "build/b/drop", "dist/keep", "src/keep"]);
    let ctx = scan(dir.path(), "build\ndist\n!**/keep\n");
    assert_eq!(
        listing(&ctx),
        "build/ build/a/ build/a/keep dist/ dist/keep src/ src/keep"
    );
    // Re-including a whole directory brings back what is under it.
    let dir = tree(&["vendor/a/x", "vendor/b/y"]);
    let ctx = scan(dir.path(), "vendor\n!vendor/a\n");
    assert_eq!(listing(&ctx), "vendor/ vendor/a/ vendor/a/x");
}

/// BuildKit matches with the parent directory's results (`MatchesUsingParentResults`):
/// `!a` after `a/b` does not bring back `a/b/c`, though `a` matches a parent of it.
#[test]
fn a_re_included_ancestor_does_not_undo_a_deeper_exclusion() {
    let dir = tree(&["a/b/c", "a/d"]);
    let ctx = scan(dir.path(), "a/b\n!a\n");
    assert_eq!(listing(&ctx), "a/ a/d");
}

/// A leading `/` (or `./`) anchors nothing more than the context root.
#[test]
fn dockerignore_leading_slash() {
    let dir = tree(&["vendor/x", "src/vendor/y", "dist/app.js", "src/dist"]);
    let ctx = scan(dir.path(), "/vendor\n./dist\n");
    assert_eq!(listing(&ctx), "src/ src/dist src/vendor/ src/vendor/y");
}

/// The Dockerfile and .dockerignore are in the context (Docker sends them)
/// unless excluded, and then COPY does not copy them.
#[test]
fn dockerfile_and_dockerignore_are_in_the_context_unless_excluded() {
    let dir = tree(&["Dockerfile = FROM scratch\n", ".dockerignore = x\n", "app.txt"]);
    let ctx = scan(dir.path(), "x\n");
    assert_eq!(listing(&ctx), ".dockerignore Dockerfile app.txt");
    assert_eq!(select(&ctx, &["."], &[], false), ".dockerignore Dockerfile app.txt");
    let ctx = scan(dir.path(), "Dockerfile\n.dockerignore\n");
    assert_eq!(select(&ctx, &["."], &[], false), "app.txt");
    assert_eq!(
        select(&ctx, &["Dockerfile"], &[], false),
        "error: failed to compute cache key: \"/Dockerfile\": not found"
    );
}

/// `*` never excludes the context root itself; an empty `.dockerignore` excludes nothing.
#[test]
fn dockerignore_everything_and_nothing() {
    let dir = tree(&["a", "b/c"]);
    assert_eq!(listing(&scan(dir.path(), "*\n")), "");
    assert_eq!(listing(&scan(dir.path(), "*\n!b\n")), "b/ b/c");
    assert_eq!(listing(&scan(dir.path(), "")), "a b/ b/c");
    let ctx = Context::scan(dir.path(), &ScanOptions::default()).unwrap();
    assert_eq!(listing(&ctx), "a b/ b/c");
}

// ---------------------------------------------------------------- symlinks

/// A symlink is an entry with its target; it is never followed by the scan,
/// wherever it points (here: out of the context).
#[test]
fn symlinks_are_recorded_not_followed() {
    let outside = tree(&["secret.txt", "d/x"]);
    let dir = tree(&["passwd -> /etc/passwd", "a.txt", "self -> .", "loop -> loop"]);
    std::os::unix::fs::symlink(outside.path().join("d"), dir.path().join("outdir")).unwrap();
    let ctx = scan(dir.path(), "");
    let passwd = ctx.get("passwd").unwrap();
    assert_eq!(passwd.kind, EntryKind::Symlink);
    assert_eq!(passwd.link_target.as_deref(), Some("/etc/passwd"));
    assert_eq!(passwd.digest, None);
    assert_eq!(passwd.size, "/etc/passwd".len() as u64);
    let out = ctx.get("outdir").unwrap();
    assert_eq!(out.kind, EntryKind::Symlink);
    assert!(ctx.get("outdir/x").is_none());
    assert_eq!(
        listing(&ctx),
        format!(
            "a.txt loop->loop outdir->{} passwd->/etc/passwd self->.",
            outside.path().join("d").display()
        )
    );
}

/// A COPY source that is a symlink is followed as BuildKit does (FollowSymlinks),
/// but only inside the context: `/etc/passwd` means the context's `etc/passwd`.
#[test]
fn a_symlink_source_is_followed_inside_the_context_only() {
    let dir = tree(&[
        "real/a.txt = A",
        "link.txt -> real/a.txt",
        "dirlink -> real",
        "abs -> /real/a.txt",
        "up -> ../../real/a.txt",
        "passwd -> /etc/passwd",
        "dangling -> nowhere",
    ]);
    let ctx = scan(dir.path(), "");
    let a = ctx.get("real/a.txt").unwrap().digest.clone();
    let sel = ctx.select(&["link.txt".into()], &[], false).unwrap();
    assert_eq!(sel.files.len(), 1);
    assert_eq!(
        (sel.files[0].path.as_str(), sel.files[0].kind),
        ("link.txt", EntryKind::File)
    );
    assert_eq!(sel.files[0].digest, a);
    assert_eq!(select(&ctx, &["dirlink"], &[], false), "dirlink/ dirlink/a.txt");
    assert_eq!(select(&ctx, &["dirlink/a.txt"], &[], false), "dirlink/a.txt");
    assert_eq!(select(&ctx, &["abs", "up"], &[], false), "abs up");
    for missing in ["passwd", "dangling"] {
        assert_eq!(
            select(&ctx, &[missing], &[], false),
            format!("error: failed to compute cache key: \"/{missing}\": not found")
        );
    }
    // Inside a selected directory, symlinks are copied as symlinks.
    let dir = tree(&["d/l -> /etc/passwd", "d/f"]);
    assert_eq!(
        select(&scan(dir.path(), ""), &["d"], &[], false),
        "d/ d/f d/l->/etc/passwd"
    );
}

// ---------------------------------------------------------------- digests

#[test]
fn file_digests_are_sha256_of_the_content() {
    use sha2::{Digest, Sha256};
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let dir = tree(&["small = hello\n", "empty = "]);
    fs::write(dir.path().join("big"), &big).unwrap();
    let ctx = scan(dir.path(), "");
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    assert_eq!(
        ctx.get("small").unwrap().digest.as_deref(),
        Some(hex(b"hello\n").as_str())
    );
    assert_eq!(ctx.get("empty").unwrap().digest.as_deref(), Some(hex(b"").as_str()));
    assert_eq!(ctx.get("big").unwrap().digest.as_deref(), Some(hex(&big).as_str()));
    assert_eq!(ctx.get("big").unwrap().size, 3_000_000);
    assert_eq!(ctx.files_hashed(), 3);
}

/// A changed mtime alone (touch) never changes a selection's digest, with or without the stat cache.
#[test]
fn touch_alone_does_not_change_the_digest() {
    let dir = tree(&["app/main.rs", "app/lib.rs"]);
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().join("stat-cache");
    let before = digest(&scan_with(dir.path(), "", Some(&cache)), &["app"]);
    let file = dir.path().join("app/main.rs");
    set_mtime(&file, mtime(&file) + Duration::from_secs(3600));
    set_mtime(&dir.path().join("app"), SystemTime::now() + Duration::from_secs(60));
    let ctx = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(digest(&ctx, &["app"]), before);
    assert_eq!(digest(&scan(dir.path(), ""), &["app"]), before);
}

/// A mode change (chmod) changes the digest, of a file or of a selected directory.
#[test]
fn chmod_changes_the_digest() {
    let dir = tree(&["app/run.sh", "app/sub/x"]);
    let before = digest(&scan(dir.path(), ""), &["app"]);
    chmod(&dir.path().join("app/run.sh"), 0o755);
    let after_file = digest(&scan(dir.path(), ""), &["app"]);
    assert_ne!(after_file, before);
    chmod(&dir.path().join("app/sub"), 0o700);
    assert_ne!(digest(&scan(dir.path(), ""), &["app"]), after_file);
    chmod(&dir.path().join("app/run.sh"), 0o4755);
    assert_eq!(scan(dir.path(), "").get("app/run.sh").unwrap().mode, 0o4755);
}

/// A content change changes the digest, even at the same size and mtime.
#[test]
fn content_change_changes_the_digest() {
    let dir = tree(&["app/a = aaaa"]);
    let before = digest(&scan(dir.path(), ""), &["app"]);
    let file = dir.path().join("app/a");
    let t = mtime(&file);
    fs::write(&file, "bbbb").unwrap();
    set_mtime(&file, t);
    assert_ne!(digest(&scan(dir.path(), ""), &["app"]), before);
}

/// Files a COPY does not select never affect its digest; added or removed
/// files under a selected directory do.
#[test]
fn unselected_files_do_not_affect_the_digest() {
    let dir = tree(&["app/a", "other/b", "top.txt"]);
    let before = digest(&scan(dir.path(), ""), &["app", "*.md"]);
    fs::write(dir.path().join("other/b"), "changed").unwrap();
    fs::write(dir.path().join("other/new"), "new").unwrap();
    fs::write(dir.path().join("top.txt"), "changed").unwrap();
    chmod(&dir.path().join("other"), 0o700);
    assert_eq!(digest(&scan(dir.path(), ""), &["app", "*.md"]), before);
    fs::write(dir.path().join("app/new"), "").unwrap();
    let added = digest(&scan(dir.path(), ""), &["app", "*.md"]);
    assert_ne!(added, before);
    fs::write(dir.path().join("README.md"), "").unwrap();
    assert_ne!(digest(&scan(dir.path(), ""), &["app", "*.md"]), added);
}

/// A symlink's target is part of the digest; what it points to is not.
#[test]
fn symlink_target_changes_the_digest() {
    let dir = tree(&["d/l -> a", "d/a = 1", "d/b = 2"]);
    let before = digest(&scan(dir.path(), ""), &["d"]);
    fs::remove_file(dir.path().join("d/l")).unwrap();
    std::os::unix::fs::symlink("b", dir.path().join("d/l")).unwrap();
    assert_ne!(digest(&scan(dir.path(), ""), &["d"]), before);
}

// ---------------------------------------------------------------- COPY/ADD sources

#[test]
fn a_directory_selects_everything_under_it() {
    let dir = tree(&["src/a.rs", "src/m/b.rs", "src/m/n/", "srcx/c", "src.txt"]);
    let ctx = scan(dir.path(), "");
    assert_eq!(
        select(&ctx, &["src"], &[], false),
        "src/ src/a.rs src/m/ src/m/b.rs src/m/n/"
    );
    assert_eq!(
        select(&ctx, &["./src/"], &[], false),
        select(&ctx, &["src"], &[], false)
    );
    assert_eq!(select(&ctx, &["/src/m"], &[], false), "src/m/ src/m/b.rs src/m/n/");
    assert_eq!(select(&ctx, &["."], &[], false), listing(&ctx));
    assert_eq!(select(&ctx, &["/"], &[], false), listing(&ctx));
    // Two sources selecting the same files list them once.
    assert_eq!(
        select(&ctx, &["src/m", "src"], &[], false),
        "src/ src/a.rs src/m/ src/m/b.rs src/m/n/"
    );
    let sel = ctx.select(&["src/m".into(), "src.txt".into()], &[], false).unwrap();
    assert_eq!(
        sel.per_source[0],
        (
            "src/m".to_string(),
            vec!["src/m".into(), "src/m/b.rs".into(), "src/m/n".into()]
        )
    );
    assert_eq!(sel.per_source[1], ("src.txt".to_string(), vec!["src.txt".into()]));
}

/// Wildcards follow Go's `filepath.Match`, one path segment at a time; a match
/// that is a directory brings everything under it.
#[test]
fn wildcards_match_like_go_filepath_match() {
    let dir = tree(&[
        "a.txt",
        "b.txt",
        ".hidden.txt",
        "c.md",
        "index.js",
        "index.ts",
        "arr[0].txt",
        "src/x.rs",
        "src/deep/y.rs",
        "docs.txt/inner",
        "home1",
        "home2/f",
    ]);
    let ctx = scan(dir.path(), "");
    assert_eq!(
        select(&ctx, &["*.txt"], &[], false),
        ".hidden.txt a.txt arr[0].txt b.txt docs.txt/ docs.txt/inner"
    );
    assert_eq!(select(&ctx, &["index.?s"], &[], false), "index.js index.ts");
    assert_eq!(select(&ctx, &["[ab].txt"], &[], false), "a.txt b.txt");
    assert_eq!(select(&ctx, &["[^ab].md"], &[], false), "c.md");
    assert_eq!(select(&ctx, &["arr[[]0].txt"], &[], false), "arr[0].txt");
    assert_eq!(select(&ctx, &["src/*.rs"], &[], false), "src/x.rs");
    // Without --parents, `**` is just `*`: one segment.
    assert_eq!(select(&ctx, &["src/**/*.rs"], &[], false), "src/deep/y.rs");
    assert_eq!(select(&ctx, &["*/*.rs"], &[], false), "src/x.rs");
    assert_eq!(select(&ctx, &["hom*"], &[], false), "home1 home2/ home2/f");
    assert_eq!(select(&ctx, &["./src/../*.md"], &[], false), "c.md");
    assert_eq!(
        select(&ctx, &["[a-"], &[], false),
        "error: invalid pattern \"[a-\": syntax error in pattern"
    );
}

/// A wildcard that matches nothing selects nothing (BuildKit's AllowEmptyWildcard);
/// a plain path that does not exist is an error, with BuildKit's message.
#[test]
fn missing_sources() {
    let dir = tree(&["a.txt", "d/x"]);
    let ctx = scan(dir.path(), "");
    assert_eq!(select(&ctx, &["*.nothing"], &[], false), "");
    assert_eq!(select(&ctx, &["nodir/*.txt"], &[], false), "");
    assert_eq!(select(&ctx, &["a.txt/*"], &[], false), "");
    let err = ctx.select(&["./missing/file.txt".into()], &[], false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to compute cache key: \"/missing/file.txt\": not found"
    );
    assert_eq!(
        miette::Diagnostic::help(&err).unwrap().to_string(),
        "source paths are relative to the build context; is \"/missing/file.txt\" \
         excluded by .dockerignore or misspelled?"
    );
    assert_eq!(
        err,
        SelectError::NotFound {
            src: "./missing/file.txt".into(),
            path: "/missing/file.txt".into()
        }
    );
    assert_eq!(
        select(&ctx, &["a.txt/x"], &[], false),
        "error: failed to compute cache key: \"/a.txt/x\": not found"
    );
}

/// `..` cannot leave the context: BuildKit clamps it at the root
/// (`COPY ../x` is `COPY x`), so nothing outside is ever selected.
#[test]
fn dotdot_stays_inside_the_context() {
    let parent = tree(&["ctx/a.txt", "secret.txt"]);
    let ctx = scan(&parent.path().join("ctx"), "");
    assert_eq!(select(&ctx, &["../a.txt"], &[], false), "a.txt");
    assert_eq!(select(&ctx, &["../../../a.txt"], &[], false), "a.txt");
    assert_eq!(select(&ctx, &[".."], &[], false), "a.txt");
    assert_eq!(
        select(&ctx, &["../secret.txt"], &[], false),
        "error: failed to compute cache key: \"/secret.txt\": not found"
    );
}

/// `--exclude` patterns apply to paths relative to each matched source (never
/// to the source itself), with the `.dockerignore` matcher: BuildKit's
/// `testExcludedFilesOnCopy` (frontend/dockerfile/exclude_patterns_test.go).
#[test]
fn exclude_patterns_as_buildkit_tests_them() {
    let dir = tree(&[
        "dir1/file-101.png = 2",
        "dir1/file-102.txt = 3",
        "dir1/file-103.jpeg = 4",
        "dir2/file-201.pdf = 6",
        "dir2/file-202.jpeg = 7",
        "dir2/file-203.png = 8",
        "dir3/file-301.mp3 = 9",
        "dir3/file-302.mpeg = 10",
        "dir4/file-401.txt = 11",
        "dir4/file-402.txt -> file-401.txt",
        "dir4/file-403.txt -> file-404.txt",
    ]);
    let ctx = scan(dir.path(), "");
    assert_eq!(
        select(&ctx, &["."], &["*/*.png", "*/*.jpeg"], false),
        "dir1/ dir1/file-102.txt dir2/ dir2/file-201.pdf dir3/ dir3/file-301.mp3 dir3/file-302.mpeg \
         dir4/ dir4/file-401.txt dir4/file-402.txt->file-401.txt dir4/file-403.txt->file-404.txt"
    );
    assert_eq!(
        select(&ctx, &["."], &["*/*.pdf", "*/*.txt"], false),
        "dir1/ dir1/file-101.png dir1/file-103.jpeg dir2/ dir2/file-202.jpeg dir2/file-203.png \
         dir3/ dir3/file-301.mp3 dir3/file-302.mpeg dir4/"
    );
    assert_eq!(select(&ctx, &["dir3/"], &["*.mp3"], false), "dir3/ dir3/file-302.mpeg");
    assert_eq!(
        select(&ctx, &["dir*"], &["*.mp3", "*.jpeg", "*.png", "*.pdf", "*.txt"], false),
        "dir1/ dir2/ dir3/ dir3/file-302.mpeg dir4/"
    );
    assert_eq!(
        select(&ctx, &["dir*"], &["*.mp*", "*.jpeg", "*.png", "*.pdf"], false),
        "dir1/ dir1/file-102.txt dir2/ dir3/ dir4/ dir4/file-401.txt dir4/file-402.txt->file-401.txt \
         dir4/file-403.txt->file-404.txt"
    );
    assert_eq!(select(&ctx, &["dir*"], &["*"], false), "dir1/ dir2/ dir3/ dir4/");
}

#[test]
fn exclude_patterns_with_directories_and_exceptions() {
    let dir = tree(&[
        "app/src/a.rs",
        "app/target/debug/x",
        "app/target/keep.txt",
        "app/README.md",
        "notes.md",
    ]);
    let ctx = scan(dir.path(), "");
    assert_eq!(
        select(&ctx, &["app"], &["target"], false),
        "app/ app/README.md app/src/ app/src/a.rs"
    );
    // An excluded directory is walked when a `!` pattern may bring something back.
    assert_eq!(
        select(&ctx, &["app"], &["target", "!target/keep.txt"], false),
        "app/ app/README.md app/src/ app/src/a.rs app/target/ app/target/keep.txt"
    );
    assert_eq!(
        select(&ctx, &["app"], &["**/*.rs", "*.md"], false),
        "app/ app/src/ app/target/ app/target/debug/ app/target/debug/x app/target/keep.txt"
    );
    // A matched file source is never excluded by its own name.
    assert_eq!(select(&ctx, &["*.md"], &["*.md"], false), "notes.md");
    assert_eq!(
        select(&ctx, &["app"], &["[z-a]"], false),
        "error: invalid pattern \"[z-a]\": syntax error in pattern"
    );
}

/// `--parents` keeps the source's path; the part before `/./` is dropped;
/// `**` matches any number of directories (BuildKit's documented examples).
#[test]
fn parents_keep_the_source_path() {
    let dir = tree(&[
        "x/a.txt",
        "y/a.txt",
        "x/y/a.txt",
        "x/y/b.txt",
        "x/y/c.md",
        "src/a.txt",
        "src/x/b.txt",
        "src/x/y/c.txt",
        "src/x/y/d.md",
    ]);
    let ctx = scan(dir.path(), "");
    assert_eq!(
        select(&ctx, &["./x/a.txt", "./y/a.txt"], &[], true),
        "x/ x/a.txt y/ y/a.txt"
    );
    assert_eq!(
        select(&ctx, &["./x/./y/*.txt"], &[], true),
        "x/ x/y/ x/y/a.txt x/y/b.txt"
    );
    let sel = ctx.select(&["./x/./y/*.txt".into()], &[], true).unwrap();
    assert_eq!(sel.per_source[0].1, ["x", "x/y", "x/y/a.txt", "x/y/b.txt"]);
    assert_eq!(
        select(&ctx, &["./src/**/*.txt"], &[], true),
        "src/ src/a.txt src/x/ src/x/b.txt src/x/y/ src/x/y/c.txt"
    );
    // A directory keeps everything under it; --exclude is relative to the
    // part before `/./` (here the context root).
    assert_eq!(
        select(&ctx, &["x/y"], &["**/*.md"], true),
        "x/ x/y/ x/y/a.txt x/y/b.txt"
    );
    assert_eq!(
        select(&ctx, &["x/y"], &["*.md"], true),
        "x/ x/y/ x/y/a.txt x/y/b.txt x/y/c.md"
    );
    assert_eq!(
        select(&ctx, &["x/./y"], &["*.md"], true),
        "x/ x/y/ x/y/a.txt x/y/b.txt x/y/c.md"
    );
    assert_eq!(
        select(&ctx, &["x/./y"], &["y/*.md"], true),
        "x/ x/y/ x/y/a.txt x/y/b.txt"
    );
    // A path without wildcards must select something; a wildcard need not.
    assert_eq!(
        select(&ctx, &["./x/missing.txt"], &[], true),
        "error: failed to compute cache key: \"/x/missing.txt\": not found"
    );
    assert_eq!(
        select(&ctx, &["nodir/./a.txt"], &[], true),
        "error: failed to compute cache key: \"/nodir/a.txt\": not found"
    );
    assert_eq!(select(&ctx, &["./x/*.nothing"], &[], true), "");
}

/// Selection goes through the context as scanned: what `.dockerignore`
/// excludes is not there for COPY either.
#[test]
fn dockerignored_files_are_never_selected() {
    let dir = tree(&["app/a.rs", "app/secret.key", "app/target/x"]);
    let ctx = scan(dir.path(), "**/*.key\napp/target\n");
    assert_eq!(select(&ctx, &["app"], &[], false), "app/ app/a.rs");
    assert_eq!(select(&ctx, &["app/*"], &[], false), "app/a.rs");
    assert_eq!(
        select(&ctx, &["app/secret.key"], &[], false),
        "error: failed to compute cache key: \"/app/secret.key\": not found"
    );
}

// ---------------------------------------------------------------- stat cache

/// After a first scan, a second one reads no file; a file changed since is read again.
#[test]
fn stat_cache_skips_unchanged_files() {
    let dir = tree(&["a = 1", "b/c = 2", "b/d = 3", "e -> a"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache/ctx");
    settle();
    let first = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(first.files_hashed(), 3);
    assert!(cache.exists());
    let second = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(second.files_hashed(), 0);
    assert_eq!(second.bytes_hashed(), 0);
    assert_eq!(listing(&second), listing(&first));
    assert_eq!(digest(&second, &["."]), digest(&first, &["."]));
    for (a, b) in first.entries().zip(second.entries()) {
        assert_eq!(a, b);
    }

    fs::write(dir.path().join("b/c"), "22").unwrap();
    fs::write(dir.path().join("new"), "4").unwrap();
    settle();
    let third = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(third.files_hashed(), 2);
    assert_ne!(digest(&third, &["b"]), digest(&first, &["b"]));
    assert_eq!(scan_with(dir.path(), "", Some(&cache)).files_hashed(), 0);
}

/// Regression guard for timestamp granularity: a file rewritten with its
/// mtime put back (same mtime, same second) is still read again, because its
/// size or ctime changed.
#[test]
fn stat_cache_rehashes_a_file_modified_in_the_same_second() {
    let dir = tree(&["f = hello", "g = world"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("stat-cache");
    settle();
    let before = scan_with(dir.path(), "", Some(&cache));
    let f = dir.path().join("f");
    let t = mtime(&f);

    // Same mtime, different size.
    fs::write(&f, "hello!").unwrap();
    set_mtime(&f, t);
    assert_eq!(mtime(&f), t);
    let after = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(after.files_hashed(), 1);
    assert_ne!(after.get("f").unwrap().digest, before.get("f").unwrap().digest);

    // Same mtime, same size: only the ctime tells.
    settle();
    scan_with(dir.path(), "", Some(&cache));
    fs::write(&f, "HELLO!").unwrap();
    set_mtime(&f, t);
    let again = scan_with(dir.path(), "", Some(&cache));
    assert_eq!(again.files_hashed(), 1);
    assert_ne!(again.get("f").unwrap().digest, after.get("f").unwrap().digest);
}

/// Files changed just before a scan are hashed but not cached: their
/// timestamps could still hide a change made in the same clock tick.
#[test]
fn stat_cache_does_not_trust_racy_files() {
    let dir = tree(&["old = 1"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("stat-cache");
    settle();
    fs::write(dir.path().join("fresh"), "2").unwrap();
    assert_eq!(scan_with(dir.path(), "", Some(&cache)).files_hashed(), 2);
    assert_eq!(scan_with(dir.path(), "", Some(&cache)).files_hashed(), 1);
    settle();
    assert_eq!(scan_with(dir.path(), "", Some(&cache)).files_hashed(), 1);
    assert_eq!(scan_with(dir.path(), "", Some(&cache)).files_hashed(), 0);
}

/// A cache written for another context, or one that does not parse, is ignored.
#[test]
fn stat_cache_of_another_context_or_corrupt_is_ignored() {
    let one = tree(&["a = 1"]);
    let two = tree(&["a = 2"]);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("stat-cache");
    settle();
    scan_with(one.path(), "", Some(&cache));
    let ctx = scan_with(two.path(), "", Some(&cache));
    assert_eq!(ctx.files_hashed(), 1);
    fs::write(&cache, b"slipway-stat-cache 1\ngarbage").unwrap();
    let ctx = scan_with(two.path(), "", Some(&cache));
    assert_eq!(ctx.files_hashed(), 1);
    assert!(ctx.warnings().is_empty());
    assert_eq!(scan_with(two.path(), "", Some(&cache)).files_hashed(), 0);
}

/// The cache location is under the given store's root, one file per context.
#[test]
fn stat_cache_is_per_context_under_the_store() {
    let one = tree(&["a"]);
    let two = tree(&["a"]);
    let store = tempfile::tempdir().unwrap();
    let a = ScanOptions::stat_cache_in(store.path(), one.path()).unwrap();
    let b = ScanOptions::stat_cache_in(store.path(), two.path()).unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with(store.path().join("context-cache")));
}

/// Regression (issue 20): a plan against a temporary store wrote its stat cache into
/// the user's store (`~/.local/share/slipway/context-cache/`); it goes to the store planned against.
#[test]
fn a_plan_writes_its_stat_cache_into_its_own_store_only() {
    let ctx = tree(&["a"]);
    fs::write(ctx.path().join("Dockerfile"), "FROM scratch\nCOPY a /a\n").unwrap();
    // The stat cache does not keep a file changed just now.
    std::thread::sleep(Duration::from_millis(120));
    let dir = tempfile::tempdir().unwrap();
    let store = slipway_store::Store::open(dir.path().join("store")).unwrap();
    let request = slipway_planner::request::Request {
        context: ctx.path().to_path_buf(),
        ..Default::default()
    };
    assert!(slipway_planner::request::plan_request(&request, &store).is_ok());
    let ours = ScanOptions::stat_cache_in(store.root(), ctx.path()).unwrap();
    assert!(ours.is_file(), "no stat cache at {}", ours.display());
    // The file this context would have under the default root was not written.
    let default = ScanOptions::stat_cache_in(&slipway_store::default_root(), ctx.path()).unwrap();
    assert!(!default.exists(), "{} written", default.display());
}

// ---------------------------------------------------------------- scale

/// Many directories, walked by several threads, give the same context as one thread.
#[test]
fn parallel_walk_matches_a_single_thread() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        for j in 0..15 {
            let d = dir.path().join(format!("d{i}/e{j}"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("f.txt"), format!("{i}/{j}")).unwrap();
            fs::write(d.join("g.md"), "").unwrap();
        }
    }
    let options = |threads| ScanOptions {
        dockerignore: Some(DockerIgnore::parse("d1*/**/*.md\n!d19/e1/g.md\n").unwrap()),
        threads,
        ..ScanOptions::default()
    };
    let one = Context::scan(dir.path(), &options(1)).unwrap();
    let four = Context::scan(dir.path(), &options(4)).unwrap();
    assert_eq!(one.len(), 40 + 600 + 600 + 600 - 11 * 15 + 1);
    assert_eq!(listing(&one), listing(&four));
    assert_eq!(digest(&one, &["."]), digest(&four, &["."]));
}

#[test]
fn scanning_a_file_or_a_missing_path_is_an_error() {
    let dir = tree(&["f"]);
    let e = Context::scan(&dir.path().join("f"), &ScanOptions::default()).unwrap_err();
    assert!(e.to_string().contains("is not a directory"), "{e}");
    let e = Context::scan(&dir.path().join("nope"), &ScanOptions::default()).unwrap_err();
    assert!(e.to_string().starts_with("cannot read build context"), "{e}");
}

/// A name that is not UTF-8 is kept lossily, and the file is still read.
#[test]
fn non_utf8_names_are_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tree(&["ok.txt"]);
    let name = std::ffi::OsStr::from_bytes(b"bad\xff");
    fs::create_dir(dir.path().join(name)).unwrap();
    fs::write(dir.path().join(name).join("f"), "x").unwrap();
    let ctx = scan(dir.path(), "");
    assert_eq!(listing(&ctx), "bad\u{fffd}/ bad\u{fffd}/f ok.txt");
    assert!(ctx.get("bad\u{fffd}/f").unwrap().digest.is_some());
}

/// A fifo is an entry of its own kind, with no digest: it is never opened
/// (reading it would block the scan).
#[test]
fn special_files_are_entries_without_content() {
    let dir = tree(&["a"]);
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let ctx = scan(dir.path(), "");
    let pipe = ctx.get("pipe").unwrap();
    assert_eq!((pipe.kind, pipe.digest.as_deref()), (EntryKind::Other, None));
    assert_eq!(ctx.files_hashed(), 1);
    assert_eq!(select(&ctx, &["."], &[], false), "a pipe");
}

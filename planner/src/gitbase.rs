//! `slipway plan --base REV`: what a change rebuilds, from git alone.
//!
//! The Dockerfile and the context are read twice: from the working tree (as a build
//! would see them) and from the commit `REV` (`git ls-tree` and `git cat-file --batch`:
//! no checkout, no store needed; `.dockerignore` as it is at `REV`). Both are planned
//! with the same code as `slipway plan`, and each step's key is compared with the key
//! of the same step (same stage, same position) at `REV`. A step whose key differs
//! rebuilds, with the reasons [`crate::plan::explain`] gives for any miss ("instruction
//! text changed", "ARG V changed 1 → 2", "3 files modified under src/") or "after a
//! changed step".
//!
//! File modes are compared as git records them (a file is 0644 or 0755, a directory
//! 0755), on both sides: a working tree's umask is not a change. Base images are keyed by
//! digest where the store knows them, else by reference (and said so).

use crate::context::{Context, EntryKind, FileEntry};
use crate::dockerignore::DockerIgnore;
use crate::plan::{explain, plan, Plan, PlanOptions, Sources, Status};
use crate::request::{self, Failure, Request};
use slipway_store::{CacheRecord, Store};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A plan of the working tree against `REV`, and notes for the reader.
pub struct BasePlan {
    pub plan: Plan,
    /// e.g. "base image debian:bookworm-slim is not in the store: compared by reference".
    pub notes: Vec<String>,
}

fn git(repo: &Path, args: &[&str]) -> io::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// The repository's top directory and `path` relative to it (`/`-separated, "" for the top).
fn in_repo(path: &Path) -> io::Result<(PathBuf, String)> {
    let abs = std::fs::canonicalize(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))?;
    let dir = if abs.is_dir() {
        abs.clone()
    } else {
        abs.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let top = git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} is not in a git repository (--base reads the base revision from git): {e}",
                path.display()
            ),
        )
    })?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let rel = abs
        .strip_prefix(&top)
        .map(|r| r.to_string_lossy().into_owned())
        .map_err(|_| io::Error::other(format!("{} is outside {}", abs.display(), top.display())))?;
    Ok((top, rel))
}

/// One `git ls-tree -l` record.
struct TreeEntry {
    mode: u32,
    kind: String,
    object: String,
    path: String,
}

/// Every entry under `prefix` at `rev` (paths relative to `prefix`), with the contents
/// of the blobs read through one `git cat-file --batch`.
fn tree(repo: &Path, rev: &str, prefix: &str) -> io::Result<Vec<(TreeEntry, Option<Vec<u8>>)>> {
    let spec = if prefix.is_empty() {
        format!("{rev}^{{tree}}")
    } else {
        format!("{rev}:{prefix}")
    };
    let listing = git(repo, &["ls-tree", "-r", "-t", "-z", &spec])?;
    let mut entries = Vec::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let Some((meta, path)) = rec.split_once('\t') else {
            continue;
        };
        let mut f = meta.split(' ');
        let (Some(mode), Some(kind), Some(object)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        entries.push(TreeEntry {
            mode: u32::from_str_radix(mode, 8).unwrap_or(0),
            kind: kind.to_string(),
            object: object.to_string(),
            path: path.to_string(),
        });
    }
    let blobs: Vec<&TreeEntry> = entries.iter().filter(|e| e.kind == "blob").collect();
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if !blobs.is_empty() {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run git cat-file: {e}")))?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("git cat-file: no stdin"))?;
        let objects: Vec<String> = blobs.iter().map(|b| b.object.clone()).collect();
        // Written from a thread: git answers while it reads, and both pipes are bounded.
        let writer = std::thread::spawn(move || -> io::Result<()> {
            let mut w = io::BufWriter::new(&mut stdin);
            for o in &objects {
                writeln!(w, "{o}")?;
            }
            w.flush()
        });
        let mut out = BufReader::new(
            child
                .stdout
                .take()
                .ok_or_else(|| io::Error::other("git cat-file: no stdout"))?,
        );
        for b in &blobs {
            let mut header = String::new();
            out.read_line(&mut header)?;
            let size: usize = header
                .split_whitespace()
                .nth(2)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| io::Error::other(format!("git cat-file: unexpected {header:?}")))?;
            let mut bytes = vec![0; size + 1];
            out.read_exact(&mut bytes)?;
            bytes.pop(); // the newline after each object
            contents.insert(b.object.clone(), bytes);
        }
        writer
            .join()
            .map_err(|_| io::Error::other("git cat-file writer panicked"))??;
        let _ = child.wait();
    }
    Ok(entries
        .into_iter()
        .map(|e| {
            let c = contents.get(&e.object).cloned();
            (e, c)
        })
        .collect())
}

/// A tree entry as a context entry (modes as git has them; submodules are left out).
fn entry(e: &TreeEntry, content: Option<&[u8]>) -> Option<FileEntry> {
    use sha2::{Digest as _, Sha256};
    let (kind, mode) = match (e.kind.as_str(), e.mode & 0o170000) {
        ("tree", _) => (EntryKind::Dir, 0o755),
        ("blob", 0o120000) => (EntryKind::Symlink, 0o777),
        ("blob", _) => (EntryKind::File, if e.mode & 0o111 != 0 { 0o755 } else { 0o644 }),
        _ => return None,
    };
    let content = content.unwrap_or_default();
    Some(FileEntry {
        path: e.path.clone(),
        kind,
        mode,
        size: if kind == EntryKind::Dir {
            0
        } else {
            content.len() as u64
        },
        uid: 0,
        gid: 0,
        link_target: (kind == EntryKind::Symlink).then(|| String::from_utf8_lossy(content).into_owned()),
        digest: (kind == EntryKind::File).then(|| slipway_store::hex(&Sha256::digest(content))),
    })
}

/// A context's selections with modes as git records them, so that only what a commit
/// can change counts as a change.
struct GitModes<'a>(&'a Context);

impl Sources for GitModes<'_> {
    fn select(&self, sources: &[String], excludes: &[String], parents: bool) -> Result<Vec<(String, String)>, String> {
        let selection = self.0.select(sources, excludes, parents).map_err(|e| e.to_string())?;
        Ok(selection
            .files
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.mode = match f.kind {
                    EntryKind::File if f.mode & 0o111 != 0 => 0o755,
                    EntryKind::File => 0o644,
                    EntryKind::Dir => 0o755,
                    EntryKind::Symlink => 0o777,
                    EntryKind::Other => f.mode,
                };
                (f.path.clone(), f.fingerprint())
            })
            .collect())
    }
}

/// Plans one version of the Dockerfile text over `sources`.
fn plan_text(
    name: &str,
    text: &str,
    request: &Request,
    sources: &dyn Sources,
    store: Option<&Store>,
    dockerfile_id: &str,
) -> Result<Plan, Failure> {
    let (file, model, graph) = request::analyze(name, text, request)?;
    let options = PlanOptions {
        dockerfile_id: dockerfile_id.into(),
        no_cache: false,
        no_cache_filter: Vec::new(),
        build_args: request.build_args.iter().cloned().collect(),
        platform: request.platform.clone(),
    };
    Ok(plan(&file, &model, &graph, sources, store, &options))
}

/// Plans the working tree of `request` against the commit `rev` of its repository.
pub fn plan_against(request: &Request, rev: &str, store: Option<&Store>) -> Result<BasePlan, Failure> {
    let dockerfile = request::dockerfile_path(request)?;
    let (repo, context_rel) = in_repo(&request.context)?;
    let (_, dockerfile_rel) = in_repo(&dockerfile)?;
    let commit = git(
        &repo,
        &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")],
    )
    .map_err(|_| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("--base {rev}: no such commit in {}", repo.display()),
        )
    })?;
    let commit = String::from_utf8_lossy(&commit).trim().to_string();
    let name = dockerfile.display().to_string();

    // Now: the working tree, as a build sees it.
    let text = String::from_utf8_lossy(
        &std::fs::read(&dockerfile).map_err(|e| io::Error::new(e.kind(), format!("cannot read {name}: {e}")))?,
    )
    .into_owned();
    let scan = crate::context::ScanOptions {
        dockerignore: request::find_dockerignore(&dockerfile, &request.context)?,
        stat_cache: None,
        threads: 0,
    };
    let now_context = Context::scan(&request.context, &scan)?;
    let now = plan_text(&name, &text, request, &GitModes(&now_context), store, &dockerfile_rel)?;

    // Then: the same paths at REV.
    let base_name = format!("{dockerfile_rel} at {rev}");
    let base_text = match git(&repo, &["cat-file", "blob", &format!("{commit}:{dockerfile_rel}")]) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(_) => None,
    };
    let mut entries: Vec<FileEntry> = Vec::new();
    // `<Dockerfile>.dockerignore` beside the Dockerfile (when that is the context's top),
    // else the context's `.dockerignore`, as `request::find_dockerignore` on disk.
    let listed = tree(&repo, &commit, &context_rel).unwrap_or_default();
    let (dockerfile_dir, dockerfile_base) = dockerfile_rel.rsplit_once('/').unwrap_or(("", &dockerfile_rel));
    let specific = (dockerfile_dir == context_rel).then(|| format!("{dockerfile_base}.dockerignore"));
    let ignore_text = [specific.as_deref(), Some(".dockerignore")]
        .into_iter()
        .flatten()
        .find_map(|want| listed.iter().find(|(e, _)| e.path == want).and_then(|(_, c)| c.clone()));
    let ignore = match ignore_text {
        Some(t) => Some(DockerIgnore::parse(&String::from_utf8_lossy(&t)).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(".dockerignore at {rev}: invalid pattern {:?}", e.pattern),
            )
        })?),
        None => None,
    };
    for (e, content) in &listed {
        if ignore.as_ref().is_some_and(|i| i.excludes(&e.path)) {
            continue;
        }
        entries.extend(entry(e, content.as_deref()));
    }
    let base_context = Context::from_entries(now_context.root().to_path_buf(), entries);
    let base = match &base_text {
        Some(t) => Some(plan_text(
            &base_name,
            t,
            request,
            &GitModes(&base_context),
            store,
            &dockerfile_rel,
        )?),
        None => None,
    };

    let mut notes = Vec::new();
    if base.is_none() {
        notes.push(format!("{dockerfile_rel} does not exist at {rev}: every step is new"));
    }
    let mut plan = now;
    let before: BTreeMap<&str, &crate::plan::PlannedStep> = base
        .as_ref()
        .map(|b| b.steps.iter().map(|s| (s.step_identity.as_str(), s)).collect())
        .unwrap_or_default();
    let mut changed: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
    // Steps come sorted by id; dependencies have smaller ids in the graph's order.
    let mut order: Vec<usize> = (0..plan.steps.len()).collect();
    order.sort_by_key(|&i| plan.steps[i].id);
    for i in order {
        let step = &plan.steps[i];
        let mut reasons = Vec::new();
        let status = match before.get(step.step_identity.as_str()) {
            Some(b) if b.cache_key == step.cache_key => Status::Hit,
            Some(b) => {
                let after_changed = step.depends_on.iter().any(|d| changed.contains(d));
                let record = CacheRecord {
                    key: b.cache_key.clone(),
                    step: b.step_identity.clone(),
                    inputs: b.inputs.clone(),
                    result: None,
                    created: 0,
                };
                let own = explain(Some(&record), &step.inputs);
                if after_changed {
                    reasons.push("after a changed step".to_string());
                    // What changed in the step itself, beyond its parent.
                    reasons.extend(
                        own.into_iter()
                            .filter(|r| r != "parent step changed" && !r.starts_with("build state changed")),
                    );
                } else {
                    reasons.extend(own);
                }
                Status::Miss
            }
            None => {
                reasons.push(format!("new step (not at {rev})"));
                Status::Miss
            }
        };
        if status == Status::Miss {
            changed.insert(step.id);
        }
        let step = &mut plan.steps[i];
        step.status = status;
        step.reasons = reasons;
    }
    for s in &plan.steps {
        // A base keyed `image NAME` without a digest: the store does not know it.
        if let Some(rest) = s.inputs.parent.as_deref().and_then(|p| p.strip_prefix("image ")) {
            if !rest.contains(" sha256:") {
                let image = rest.split_whitespace().next().unwrap_or(rest);
                notes.push(format!(
                    "base image {image} is not resolved here (not in the store): compared by reference"
                ));
            }
        }
    }
    notes.dedup();
    let hits = plan.steps.iter().filter(|s| s.status == Status::Hit).count();
    plan.summary.hits = hits;
    plan.summary.misses = plan.steps.len() - hits;
    Ok(BasePlan { plan, notes })
}

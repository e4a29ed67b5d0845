//! COPY/ADD source selection, as BuildKit does it for a local context.
//!
//! The Dockerfile frontend (`dispatchCopy`) copies each source with
//! `FollowSymlinks`, `CopyDirContentsOnly`, `AllowWildcard` and
//! `AllowEmptyWildcard`; the file backend and the content hash
//! (`cache/contenthash`) then:
//! - normalize the source against `/` (so `..` stops at the context root);
//! - without wildcards, follow symlinks (inside the context) and take the path
//!   and, for a directory, everything under it — or fail with `not found`;
//! - with wildcards, follow the part before the first wildcard, match the rest
//!   with `path.Match` against entries at that depth, and take each match (a
//!   symlink followed) with everything under it; no match selects nothing;
//! - `--exclude` patterns (the `.dockerignore` matcher) apply to paths relative
//!   to each matched source, never to the source itself; an excluded
//!   directory is still walked if a `!` pattern could bring something back;
//! - `--parents` copies from the part before `/./` (else the context root),
//!   keeping only what matches the rest as an include pattern, with the
//!   directories above it; a source without wildcards must then select
//!   something under its path (`RequiredPaths`).

use super::glob::{cmp_paths, contains_wildcards, go_match, normalize, split_wildcards};
use super::{Context, EntryKind, FileEntry, SelectError, Selection};
use crate::dockerignore::{clean, DockerIgnore};

/// Symlinks followed in one path before giving up (as the kernel's ELOOP).
const MAX_LINKS: usize = 255;

/// A directory open during [`Context::emit_tree`].
struct Frame {
    /// Its path relative to the source, with a trailing `/`.
    prefix: String,
    include: Vec<bool>,
    exclude: Vec<bool>,
    index: usize,
    emitted: bool,
}

impl Context {
    /// The context entries COPY/ADD `sources` select (context paths as
    /// written in the Dockerfile, after variable expansion), with the
    /// instruction's `--exclude` patterns and `--parents` flag.
    pub fn select(&self, sources: &[String], excludes: &[String], parents: bool) -> Result<Selection, SelectError> {
        let exclude = if excludes.is_empty() {
            None
        } else {
            Some(DockerIgnore::from_patterns(excludes).map_err(|e| SelectError::BadPattern { pattern: e.pattern })?)
        };
        let mut files: Vec<FileEntry> = Vec::new();
        let mut per_source = Vec::with_capacity(sources.len());
        for src in sources {
            let start = files.len();
            if parents {
                self.select_parents(src, exclude.as_ref(), &mut files)?;
            } else {
                let p = normalize(src);
                for (base, named) in self.bases(src, &p, false)? {
                    self.emit_tree(&base, &named, None, exclude.as_ref(), false, &mut files);
                }
            }
            let mut paths: Vec<String> = files[start..].iter().map(|f| f.path.clone()).collect();
            paths.sort_by(|a, b| cmp_paths(a, b));
            paths.dedup();
            per_source.push((src.clone(), paths));
        }
        files.sort_by(|a, b| cmp_paths(&a.path, &b.path));
        files.dedup_by(|later, first| later.path == first.path);
        Ok(Selection { files, per_source })
    }

    fn select_parents(
        &self,
        src: &str,
        exclude: Option<&DockerIgnore>,
        out: &mut Vec<FileEntry>,
    ) -> Result<(), SelectError> {
        // The optional pivot: only what follows `/./` keeps its parents.
        let (parent, pattern) = match src.find("/./") {
            Some(i) => (&src[..i], &src[i + 3..]),
            None => ("/", src),
        };
        let pattern_n = normalize(pattern);
        let parent_n = normalize(parent);
        let include = DockerIgnore::from_patterns(&[pattern_n.as_str()])
            .map_err(|e| SelectError::BadPattern { pattern: e.pattern })?;
        let start = out.len();
        for (base, named) in self.bases(src, &parent_n, true)? {
            self.emit_tree(&base, &named, Some(&include), exclude, true, out);
        }
        if !contains_wildcards(parent) && !contains_wildcards(pattern) {
            // BuildKit checks that some selected path starts with this one.
            let required = clean(&format!("/{parent_n}/{pattern_n}"));
            if !out[start..]
                .iter()
                .any(|f| format!("/{}", f.path).starts_with(&required))
            {
                return Err(SelectError::NotFound {
                    src: src.to_string(),
                    path: required,
                });
            }
        }
        Ok(())
    }

    /// The roots a source names: (resolved context path, path as named).
    /// `p` is the normalized source; a missing plain path is an error unless
    /// `missing_ok`.
    fn bases(&self, src: &str, p: &str, missing_ok: bool) -> Result<Vec<(String, String)>, SelectError> {
        let not_found = |named: &str| SelectError::NotFound {
            src: src.to_string(),
            path: format!("/{named}"),
        };
        if !contains_wildcards(p) {
            return match self.resolve(p) {
                Some(base) => Ok(vec![(base, p.to_string())]),
                None if missing_ok => Ok(Vec::new()),
                None => Err(not_found(p)),
            };
        }
        let (dir, pattern) = split_wildcards(p);
        let bad = || SelectError::BadPattern {
            pattern: src.to_string(),
        };
        let Some(dir_resolved) = self.resolve(&dir) else {
            return Ok(Vec::new());
        };
        if !dir_resolved.is_empty() && self.get(&dir_resolved).map(|e| e.kind) != Some(EntryKind::Dir) {
            return Ok(Vec::new());
        }
        let depth = pattern.matches('/').count();
        let offset = if dir_resolved.is_empty() {
            0
        } else {
            dir_resolved.len() + 1
        };
        let mut out = Vec::new();
        for e in &self.entries[self.under(&dir_resolved)] {
            let rel = &e.path[offset..];
            if rel.matches('/').count() != depth || !go_match(&pattern, rel).map_err(|_| bad())? {
                continue;
            }
            let named = if dir.is_empty() {
                rel.to_string()
            } else {
                format!("{dir}/{rel}")
            };
            if e.kind == EntryKind::Symlink {
                // A matched symlink is followed, as the source itself.
                let base = self.resolve(&e.path).ok_or_else(|| not_found(&named))?;
                out.push((base, named));
            } else {
                out.push((e.path.clone(), named));
            }
        }
        // Go reports a malformed pattern even when nothing was there to match.
        go_match(&pattern, "").map_err(|_| bad())?;
        Ok(out)
    }

    /// Resolves a context path, following symlinks as `fs.RootPath` does:
    /// inside the context (an absolute target starts at its root, `..` stops
    /// there), never outside it.
    pub fn resolve(&self, path: &str) -> Option<String> {
        let mut todo: Vec<String> = path.split('/').rev().map(str::to_string).collect();
        let mut cur = String::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    cur.truncate(cur.rfind('/').unwrap_or(0));
                    continue;
                }
                _ => {}
            }
            let candidate = if cur.is_empty() { c } else { format!("{cur}/{c}") };
            let e = self.get(&candidate)?;
            if e.kind == EntryKind::Symlink {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = e.link_target.as_deref().unwrap_or("");
                if target.starts_with('/') {
                    cur.clear();
                }
                todo.extend(target.split('/').rev().map(str::to_string));
                continue;
            }
            cur = candidate;
        }
        Some(cur)
    }

    /// Emits the source `base` (a resolved context path, `""` for the root)
    /// and what is under it that passes `include` and `exclude`, renamed from
    /// `base` to `named`. A directory left out but walked is emitted when
    /// something under it is; so is `base` when `lazy_base`.
    fn emit_tree(
        &self,
        base: &str,
        named: &str,
        include: Option<&DockerIgnore>,
        exclude: Option<&DockerIgnore>,
        lazy_base: bool,
        out: &mut Vec<FileEntry>,
    ) {
        let rename = |e: &FileEntry| -> FileEntry {
            let path = match (base.is_empty(), named.is_empty()) {
                (true, true) => e.path.clone(),
                (true, false) => format!("{named}/{}", e.path),
                (false, _) => format!("{named}{}", &e.path[base.len()..]),
            };
            FileEntry { path, ..e.clone() }
        };
        let mut base_pending = false;
        if !base.is_empty() {
            let Some(e) = self.get(base) else { return };
            if e.kind != EntryKind::Dir || !lazy_base {
                // The source itself is never excluded.
                out.push(rename(e));
            } else {
                base_pending = true;
            }
            if e.kind != EntryKind::Dir {
                return;
            }
        }
        let range = self.under(base);
        if include.is_none() && exclude.is_none() {
            out.extend(self.entries[range].iter().map(rename));
            return;
        }
        let offset = if base.is_empty() { 0 } else { base.len() + 1 };
        let skip_excluded = include.is_none() && !exclude.is_some_and(|x| x.has_exclusions());
        let (mut inc_info, mut exc_info) = (Vec::new(), Vec::new());
        let mut stack: Vec<Frame> = Vec::new();
        let mut i = range.start;
        while i < range.end {
            let e = &self.entries[i];
            let rel = &e.path[offset..];
            while stack.last().is_some_and(|f| !rel.starts_with(&f.prefix)) {
                stack.pop();
            }
            let parent = stack.last();
            let included = include
                .is_none_or(|m| m.matches_using_parent_results(rel, parent.map(|f| &f.include[..]), &mut inc_info));
            let excluded = exclude
                .is_some_and(|m| m.matches_using_parent_results(rel, parent.map(|f| &f.exclude[..]), &mut exc_info));
            let keep = included && !excluded;
            if keep {
                if base_pending {
                    if let Some(b) = self.get(base) {
                        out.push(rename(b));
                    }
                    base_pending = false;
                }
                for f in stack.iter_mut().filter(|f| !f.emitted) {
                    out.push(rename(&self.entries[f.index]));
                    f.emitted = true;
                }
                out.push(rename(e));
            }
            if e.kind == EntryKind::Dir {
                if excluded && skip_excluded {
                    // No `!` pattern can bring anything under it back.
                    i = self.under(&e.path).end;
                    continue;
                }
                stack.push(Frame {
                    prefix: format!("{rel}/"),
                    include: inc_info.clone(),
                    exclude: exc_info.clone(),
                    index: i,
                    emitted: keep,
                });
            }
            i += 1;
        }
    }
}

//! Paths inside an image being built: a stack of layer directories (overlayfs lower dirs
//! plus the step's upper dir), read as the merged root filesystem would show them.
//!
//! [`View::resolve`] follows symbolic links *inside the image* (an absolute link target
//! means the image's root, `..` stops at the root), so a COPY or ADD into `/lib/x` on a
//! Debian image (where `/lib -> usr/lib`) writes `/usr/lib/x`, and nothing a build writes
//! can land outside the image, whatever links an archive or a base image holds.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Links followed before giving up (Linux's limit for one lookup).
const MAX_LINKS: usize = 40;

/// A merged view of layer directories, top first, under an in-memory upper layer when
/// the step streams its layer ([`crate::upper::Tree`]).
pub struct View<'a> {
    layers: Vec<&'a Path>,
    tree: Option<&'a crate::upper::Tree>,
}

impl<'a> View<'a> {
    /// `lowers` bottom first (as overlayfs's lowerdir list is built), `upper` on top.
    pub fn new(lowers: &'a [PathBuf], upper: &'a Path) -> View<'a> {
        let mut layers: Vec<&Path> = vec![upper];
        layers.extend(lowers.iter().rev().map(PathBuf::as_path));
        View { layers, tree: None }
    }

    /// `lowers` bottom first under the in-memory upper layer `tree`.
    pub(crate) fn over_tree(lowers: &'a [PathBuf], tree: &'a crate::upper::Tree) -> View<'a> {
        View {
            layers: lowers.iter().rev().map(PathBuf::as_path).collect(),
            tree: Some(tree),
        }
    }

    /// The target of the symbolic link at `rel` in the merged view; `None` when `rel` is
    /// absent, hidden or not a link.
    fn link(&self, rel: &str) -> io::Result<Option<PathBuf>> {
        if let Some(tree) = self.tree {
            match tree.lookup(Path::new(rel)) {
                crate::upper::Lookup::Absent => {}
                crate::upper::Lookup::Hidden => return Ok(None),
                crate::upper::Lookup::Found(target) => return Ok(target.map(Path::to_path_buf)),
            }
        }
        match self.stat(rel) {
            Some((host, meta)) if meta.file_type().is_symlink() => fs::read_link(&host).map(Some),
            _ => Ok(None),
        }
    }

    /// The entry at `rel` (no leading `/`, symlinks in its parents already resolved) as the
    /// merged view's directories show it (not an in-memory upper layer): its host path and
    /// metadata, `None` when absent or whited out.
    pub fn stat(&self, rel: &str) -> Option<(PathBuf, fs::Metadata)> {
        let host = crate::layer::layered_lookup(&self.layers, Path::new(rel))?;
        fs::symlink_metadata(&host).ok().map(|m| (host, m))
    }

    /// `path` (absolute, or relative to `/`) with every symbolic link resolved inside the
    /// image, cleaned; the last component is followed only with `follow_last`.
    pub fn resolve(&self, path: &str, follow_last: bool) -> io::Result<String> {
        let mut todo: VecDeque<String> = path.split('/').map(str::to_string).collect();
        let mut out: Vec<String> = Vec::new();
        let mut links = 0;
        while let Some(part) = todo.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    out.pop();
                    continue;
                }
                _ => out.push(part),
            }
            let last = todo.iter().all(|p| p.is_empty() || p == ".");
            if last && !follow_last {
                continue;
            }
            let rel = out.join("/");
            let Some(target) = self.link(&rel)? else { continue };
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("/{rel}: too many levels of symbolic links"),
                ));
            }
            let target = target.to_string_lossy();
            out.pop();
            if target.starts_with('/') {
                out.clear();
            }
            for p in target.split('/').rev() {
                todo.push_front(p.to_string());
            }
        }
        Ok(format!("/{}", out.join("/")))
    }
}

/// Splits an archive entry's path into clean components relative to the destination, or
/// `None` when it would climb out of it (`../x`, `a/../../x`). A leading `/` or `./` is
/// dropped, as tar does.
pub fn contained(path: &str) -> Option<Vec<&str>> {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_image() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        fs::create_dir_all(lower.join("usr/lib")).unwrap();
        fs::create_dir_all(&upper).unwrap();
        symlink("usr/lib", lower.join("lib")).unwrap();
        symlink("/etc", lower.join("usr/lib/etc-link")).unwrap();
        symlink("../../../../../../etc/passwd", lower.join("escape")).unwrap();
        symlink("loop", lower.join("loop")).unwrap();
        let lowers = [lower];
        let v = View::new(&lowers, &upper);
        assert_eq!(v.resolve("/lib/x", true).unwrap(), "/usr/lib/x");
        assert_eq!(v.resolve("lib", false).unwrap(), "/lib");
        assert_eq!(v.resolve("/lib/etc-link/passwd", true).unwrap(), "/etc/passwd");
        assert_eq!(v.resolve("/escape", true).unwrap(), "/etc/passwd");
        assert_eq!(v.resolve("/a/../../b/./c/", true).unwrap(), "/b/c");
        assert!(v
            .resolve("/loop", true)
            .unwrap_err()
            .to_string()
            .contains("too many levels"));
    }

    #[test]
    fn upper_and_whiteouts_win() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        fs::create_dir_all(lower.join("a")).unwrap();
        fs::create_dir_all(&upper).unwrap();
        symlink("/a", upper.join("b")).unwrap();
        let lowers = [lower];
        let v = View::new(&lowers, &upper);
        assert_eq!(v.resolve("/b/c", true).unwrap(), "/a/c");
        assert!(v.stat("a").unwrap().1.is_dir());
        assert!(v.stat("nope").is_none());
    }

    #[test]
    fn archive_paths_stay_inside() {
        assert_eq!(contained("./a/b/../c"), Some(vec!["a", "c"]));
        assert_eq!(contained("/abs/x"), Some(vec!["abs", "x"]));
        assert_eq!(contained("../x"), None);
        assert_eq!(contained("a/../../x"), None);
        assert_eq!(contained("./"), Some(vec![]));
    }
}

//! A COPY/ADD step's writable layer held in memory: which paths the step writes, with
//! their owner and mode and, for files, the host file their bytes come from. The layer tar
//! is written straight from it ([`write_layer`]), so a COPY creates no files on disk.
//!
//! [`Tree`] mirrors what the same operations do to an upper dir on disk
//! (`build::ensure_dir`, `build::copy_tree`): the same entries, owners and modes, in the
//! same order, so a streamed COPY gives the same layer digest as a materialised one
//! (`runner/tests/copy_stream.rs` builds the same steps both ways and compares).
//! A COPY never makes whiteouts or opaque directories (it writes into the upper dir, it
//! does not delete through overlayfs), so the tree has neither.
//!
//! Timestamps are the kernel's rules with one clock reading: files, links and copied
//! directories keep their source's mtime (a directory's is set once its contents are in);
//! a directory the step creates, or puts an entry into afterwards, has the step's time
//! (`Tree::at`). Files that are hard links of each other in the sources stay one file:
//! the first in the layer's order is written, the others are links to it (as
//! `layer::write_tar` writes an upper dir whose copies are linked).

use crate::layer::{entry_header, write_layer_with, LayerInfo, LayerOptions};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Owner, permission bits (`& 0o7777`, as chmod keeps them) and mtime (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
}

#[derive(Debug)]
enum Node {
    Dir {
        meta: Meta,
        /// Sorted bytewise, as `layer::write_tar` sorts a directory's names.
        children: BTreeMap<OsString, Node>,
    },
    /// A regular file whose bytes are `host`'s, `size` long; `inode` (source, device,
    /// inode) when the file has other hard links.
    File {
        meta: Meta,
        host: PathBuf,
        size: u64,
        inode: Option<(usize, u64, u64)>,
    },
    Symlink {
        uid: u32,
        gid: u32,
        mtime: i64,
        target: PathBuf,
    },
}

/// What the tree has at a path, for [`crate::rootfs::View`].
pub(crate) enum Lookup<'a> {
    /// Not in the tree: the lower layers decide.
    Absent,
    /// A non-directory on the way hides everything below it.
    Hidden,
    /// A symbolic link (its target) or, `None`, another kind of entry.
    Found(Option<&'a Path>),
}

/// The writable layer of a COPY/ADD step, in memory. The root itself is not an entry.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    root: BTreeMap<OsString, Node>,
    /// The step's time: the mtime of the directories it creates or changes.
    now: i64,
    /// The source being copied in: its files with other hard links are linked to each
    /// other in the layer (`None`: never).
    pub(crate) link_source: Option<usize>,
}

fn names(rel: &Path) -> io::Result<Vec<&std::ffi::OsStr>> {
    rel.components()
        .filter(|c| !matches!(c, Component::CurDir | Component::RootDir))
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a clean path in the layer", rel.display()),
            )),
        })
        .collect()
}

fn errno(e: nix::errno::Errno, what: &str, rel: &Path) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("{what} {}: {e}", rel.display()))
}

impl Tree {
    /// An empty tree whose step runs at `now` (seconds).
    pub(crate) fn at(now: i64) -> Tree {
        Tree {
            root: BTreeMap::new(),
            now,
            link_source: None,
        }
    }

    fn get(&self, rel: &Path) -> Option<&Node> {
        let names = names(rel).ok()?;
        let (last, parents) = names.split_last()?;
        let mut dir = &self.root;
        for n in parents {
            match dir.get(*n)? {
                Node::Dir { children, .. } => dir = children,
                _ => return None,
            }
        }
        dir.get(*last)
    }

    /// The children of the directory `parent` (the root for an empty path), or the error
    /// the kernel would give for creating an entry in it. With `touch`, the directory's
    /// mtime becomes the step's time (an entry is made or removed in it).
    fn dir_mut(
        &mut self,
        parent: &[&std::ffi::OsStr],
        rel: &Path,
        touch: bool,
    ) -> io::Result<&mut BTreeMap<OsString, Node>> {
        let now = self.now;
        let mut dir = &mut self.root;
        for (i, n) in parent.iter().enumerate() {
            match dir.get_mut(*n) {
                Some(Node::Dir { children, meta }) => {
                    if touch && i + 1 == parent.len() {
                        meta.mtime = now;
                    }
                    dir = children
                }
                Some(_) => return Err(errno(nix::errno::Errno::ENOTDIR, "cannot create", rel)),
                None => return Err(errno(nix::errno::Errno::ENOENT, "cannot create", rel)),
            }
        }
        Ok(dir)
    }

    /// Puts `node` at `rel`, replacing what is there; the parent must be a directory, and
    /// its mtime becomes the step's.
    fn put(&mut self, rel: &Path, node: Node) -> io::Result<()> {
        self.put_touching(rel, node, true)
    }

    fn put_touching(&mut self, rel: &Path, node: Node, touch: bool) -> io::Result<()> {
        let names = names(rel)?;
        let Some((last, parent)) = names.split_last() else {
            return Err(errno(nix::errno::Errno::EEXIST, "cannot create", rel));
        };
        self.dir_mut(parent, rel, touch)?.insert(last.to_os_string(), node);
        Ok(())
    }

    /// Sets the mtime of the directory at `rel` (a copied directory's, once all of its
    /// source's entries are in).
    pub(crate) fn set_dir_mtime(&mut self, rel: &Path, mtime: i64) -> io::Result<()> {
        let names = names(rel)?;
        let Some((last, parent)) = names.split_last() else {
            return Ok(());
        };
        if let Some(Node::Dir { meta, .. }) = self.dir_mut(parent, rel, false)?.get_mut(*last) {
            meta.mtime = mtime;
        }
        Ok(())
    }

    fn remove(&mut self, rel: &Path) {
        let Ok(names) = names(rel) else { return };
        let Some((last, parent)) = names.split_last() else {
            return;
        };
        if let Ok(dir) = self.dir_mut(parent, rel, true) {
            dir.remove(*last);
        }
    }

    /// What the tree holds at `rel` (as `layer::layered_lookup` sees one layer).
    pub(crate) fn lookup(&self, rel: &Path) -> Lookup<'_> {
        let Ok(names) = names(rel) else { return Lookup::Absent };
        let mut dir = &self.root;
        for (i, n) in names.iter().enumerate() {
            let Some(node) = dir.get(*n) else { return Lookup::Absent };
            if i + 1 == names.len() {
                return Lookup::Found(match node {
                    Node::Symlink { target, .. } => Some(target.as_path()),
                    _ => None,
                });
            }
            match node {
                Node::Dir { children, .. } => dir = children,
                _ => return Lookup::Hidden,
            }
        }
        Lookup::Found(None)
    }

    /// `build::ensure_dir` on the tree: makes `target` (absolute) a directory, its missing
    /// parents copied up from the lower layers (owner, mode and mtime; the parent's mtime
    /// unchanged, as overlayfs copies up) or new: `mode`, owned by `owner` (root by
    /// default), at the step's time.
    pub(crate) fn ensure_dir(
        &mut self,
        lowers: &[PathBuf],
        target: &str,
        owner: Option<(u32, u32)>,
        mode: u32,
    ) -> io::Result<()> {
        let mut rel = PathBuf::new();
        let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
        for p in parts {
            rel.push(p);
            if self.get(&rel).is_some() {
                continue;
            }
            let lower = crate::build::lower_dir(lowers, &rel);
            let copied_up = lower.is_some();
            let meta = match lower {
                Some(m) => Meta {
                    uid: m.uid(),
                    gid: m.gid(),
                    mode: m.mode() & 0o7777,
                    mtime: m.mtime(),
                },
                None => {
                    let (uid, gid) = owner.unwrap_or((0, 0));
                    Meta {
                        uid,
                        gid,
                        mode,
                        mtime: self.now,
                    }
                }
            };
            self.put_touching(
                &rel,
                Node::Dir {
                    meta,
                    children: BTreeMap::new(),
                },
                !copied_up,
            )?;
        }
        Ok(())
    }

    /// `build::copy_tree` into the tree: the file, symlink or directory tree at `src` (on
    /// the host) goes to `rel`. Ownership: `owner`, else the source's with `keep_owner`,
    /// else root. `mode` replaces permission bits; a directory's contents come along when
    /// `recursive`. Files are not read here: their bytes are read when the layer is written.
    pub(crate) fn copy_in(
        &mut self,
        src: &Path,
        rel: &Path,
        owner: Option<(u32, u32)>,
        mode: Option<u32>,
        keep_owner: bool,
        recursive: bool,
    ) -> io::Result<()> {
        let (meta, uid, gid) = crate::build::source_owner(src, owner, keep_owner)?;
        let ft = meta.file_type();
        if names(rel)?.is_empty() && ft.is_dir() {
            // A directory copied to `/`: its contents go into the root, which is no entry.
            for entry in fs::read_dir(src)?.filter(|_| recursive) {
                let entry = entry?;
                self.copy_in(
                    &entry.path(),
                    Path::new(&entry.file_name()),
                    owner,
                    mode,
                    keep_owner,
                    true,
                )?;
            }
            return Ok(());
        }
        if self
            .get(rel)
            .is_some_and(|n| !(matches!(n, Node::Dir { .. }) && ft.is_dir()))
        {
            self.remove(rel);
        }
        let meta_of = |m: &fs::Metadata| Meta {
            uid,
            gid,
            mode: mode.unwrap_or(m.mode()) & 0o7777,
            mtime: m.mtime(),
        };
        if ft.is_symlink() {
            let target = fs::read_link(src)?;
            return self.put(
                rel,
                Node::Symlink {
                    uid,
                    gid,
                    mtime: meta.mtime(),
                    target,
                },
            );
        }
        if ft.is_dir() {
            if self.get(rel).is_none() {
                self.put(
                    rel,
                    Node::Dir {
                        meta: meta_of(&meta),
                        children: BTreeMap::new(),
                    },
                )?;
            }
            for entry in fs::read_dir(src)?.filter(|_| recursive) {
                let entry = entry?;
                self.copy_in(
                    &entry.path(),
                    &rel.join(entry.file_name()),
                    owner,
                    mode,
                    keep_owner,
                    true,
                )?;
            }
            // As on disk: owner, mode and mtime are set once the contents are in.
            let names = names(rel)?;
            if let Some((last, parent)) = names.split_last() {
                if let Some(Node::Dir { meta: m, .. }) = self.dir_mut(parent, rel, false)?.get_mut(*last) {
                    *m = meta_of(&meta);
                }
            }
            return Ok(());
        }
        if ft.is_file() {
            return self.put(
                rel,
                Node::File {
                    meta: meta_of(&meta),
                    host: src.to_path_buf(),
                    size: meta.len(),
                    inode: self
                        .link_source
                        .filter(|_| meta.nlink() > 1)
                        .map(|s| (s, meta.dev(), meta.ino())),
                },
            );
        }
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: special files are not copied yet", src.display()),
        ))
    }
}

/// Reads exactly `size` bytes of a host file for a layer entry whose header said `size`;
/// a file that changed size since the COPY looked at it is an error, not a corrupt tar.
struct Exactly {
    file: fs::File,
    left: u64,
    host: PathBuf,
}

impl Read for Exactly {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(self.changed());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

impl Exactly {
    fn changed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} changed while the layer was written", self.host.display()),
        )
    }
}

/// Writes the tree as a layer tar: the entries `layer::write_tar` writes for the same
/// upper dir on disk, in the same order, with the same headers.
fn write_tar(tree: &Tree, options: &LayerOptions, out: &mut dyn Write) -> io::Result<bool> {
    fn walk(
        tar: &mut tar::Builder<&mut dyn Write>,
        options: &LayerOptions,
        dir: &BTreeMap<OsString, Node>,
        rel: &Path,
        links: &mut HashMap<(usize, u64, u64), PathBuf>,
    ) -> io::Result<()> {
        for (name, node) in dir {
            let rel = rel.join(name);
            match node {
                Node::Dir { meta, children } => {
                    let mut header = entry_header(options, meta.uid, meta.gid, meta.mode, meta.mtime);
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tar.append_data(&mut header, &rel, io::empty())?;
                    walk(tar, options, children, &rel, links)?;
                }
                Node::Symlink {
                    uid,
                    gid,
                    mtime,
                    target,
                } => {
                    // A symbolic link's mode is 0777 on Linux.
                    let mut header = entry_header(options, *uid, *gid, 0o777, *mtime);
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tar.append_link(&mut header, &rel, target)?;
                }
                Node::File {
                    meta,
                    host,
                    size,
                    inode,
                } => {
                    let mut header = entry_header(options, meta.uid, meta.gid, meta.mode, meta.mtime);
                    if let Some(inode) = inode {
                        if let Some(first) = links.get(inode) {
                            header.set_entry_type(tar::EntryType::Link);
                            header.set_size(0);
                            tar.append_link(&mut header, &rel, first)?;
                            continue;
                        }
                        links.insert(*inode, rel.clone());
                    }
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(*size);
                    let file = fs::File::open(host)
                        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {}: {e}", host.display())))?;
                    let mut reader = Exactly {
                        file,
                        left: *size,
                        host: host.clone(),
                    };
                    tar.append_data(&mut header, &rel, &mut reader)?;
                    if reader.file.read(&mut [0u8; 1])? != 0 {
                        return Err(reader.changed());
                    }
                }
            }
        }
        Ok(())
    }
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    walk(&mut tar, options, &tree.root, Path::new(""), &mut HashMap::new())?;
    tar.into_inner()?.flush()?;
    Ok(true)
}

/// Writes the tree as a layer to `out` (see [`crate::layer::write_layer`]).
pub(crate) fn write_layer(tree: &Tree, options: &LayerOptions, out: impl Write + Send) -> io::Result<LayerInfo> {
    write_layer_with(options, out, |w| write_tar(tree, options, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_tree_writes_the_layer_its_upper_dir_would() {
        // The same files in an upper dir on disk and in a tree: the same layer.
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("a-b")).unwrap();
        fs::create_dir_all(src.join("a/deep")).unwrap();
        fs::write(src.join("a/deep/f"), "deep").unwrap();
        fs::write(src.join("a-b/g"), vec![9u8; 70_000]).unwrap();
        fs::set_permissions(src.join("a-b/g"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("a/deep", src.join("link")).unwrap();
        let upper = d.path().join("upper");
        fs::create_dir(&upper).unwrap();
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let mut tree = Tree::at(7);
        for (from, to) in [("a", "x/a"), ("a-b", "x/a-b"), ("link", "x/link")] {
            let host = upper.join(to);
            fs::create_dir_all(host.parent().unwrap()).unwrap();
            crate::build::copy_tree(&src.join(from), &host, Some((uid, gid)), None, false).unwrap();
            tree.ensure_dir(&[], "/x", Some((uid, gid)), 0o755).unwrap();
            tree.copy_in(&src.join(from), Path::new(to), Some((uid, gid)), None, false, true)
                .unwrap();
        }
        fs::set_permissions(upper.join("x"), fs::Permissions::from_mode(0o755)).unwrap();
        // The directory the step made has the step's time (the tree's `now`).
        crate::build::set_mtime(&upper.join("x"), 7, 0, true).unwrap();
        for compression in [
            crate::layer::Compression::None,
            crate::layer::Compression::Gzip,
            crate::layer::Compression::Zstd,
        ] {
            let opts = LayerOptions {
                clamp: None,
                compression,
            };
            let disk = crate::layer::write_layer(&upper, &opts, Vec::new()).unwrap();
            let mem = write_layer(&tree, &opts, Vec::new()).unwrap();
            assert_eq!(disk, mem, "{compression:?}");
        }
        // A source that shrank since the COPY looked at it fails the layer.
        fs::write(src.join("a/deep/f"), "d").unwrap();
        let opts = LayerOptions {
            clamp: None,
            compression: crate::layer::Compression::None,
        };
        let e = write_layer(&tree, &opts, Vec::new()).unwrap_err();
        assert!(e.to_string().contains("changed while the layer was written"), "{e}");
    }
}

//! slipway-runner: namespace containers ([`container`]), layers from their writable
//! directories ([`layer`]), and images in the store.
//!
//! Invariants:
//! - the only crate that holds `unsafe` and nix, and only in [`sys`];
//! - every privileged syscall goes through one trait, [`sys::Sys`], so the set-up logic is
//!   tested without root against a recording fake;
//! - no rlimit is ever raised (these machines have no CAP_SYS_RESOURCE); cgroups are used
//!   where the host offers them ([`cgroup`]) and skipped with a note where not.

pub mod add;
pub mod binfmt;
pub mod build;
pub mod cgroup;
pub mod container;
pub mod distribute;
pub mod export;
pub mod image;
pub mod layer;
pub mod mounts;
pub mod net;
pub mod progress;
pub mod prune;
pub mod rootfs;
pub mod run;
pub mod security;
pub mod sys;
pub mod tree;
mod upper;
pub mod user;

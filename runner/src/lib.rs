//! slipway-runner: executes plans in namespace containers (not yet built; see issue 5).
//!
//! Invariant: the only crate that holds `unsafe` and nix; every privileged syscall goes through one trait.

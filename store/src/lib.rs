//! slipway-store: the on-disk, content-addressed OCI image store (not yet built; see issue 4).
//!
//! Invariant: depends on no other slipway crate; every write is temp file + fsync + rename.

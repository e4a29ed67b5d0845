//! slipway-planner: build context, cache keys and plan reports (being built; see issue 4).
//!
//! - [`dockerignore`]: `.dockerignore` patterns with Docker's matching rules.
//! - [`plan`]: cache keys per step and the dry-run plan with miss reasons.
//!
//! Invariant: depends only on `slipway-parser` and `slipway-store`.

pub mod dockerignore;
pub mod plan;
pub mod report;
pub mod shellcheck;

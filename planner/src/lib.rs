//! slipway-planner: build context, cache keys and plan reports (being built; see issue 4).
//!
//! - [`context`]: the build context: parallel walk, `.dockerignore`, content hashes,
//!   stat cache, and the files each COPY/ADD selects.
//! - [`dockerignore`]: `.dockerignore` patterns with Docker's matching rules.
//! - [`plan`]: cache keys per step and the dry-run plan with miss reasons.
//!
//! Invariant: depends only on `slipway-parser` and `slipway-store`.

pub mod config;
pub mod context;
pub mod dockerignore;
pub mod gitbase;
pub mod hadolint;
pub mod plan;
pub mod report;
pub mod request;
pub mod shellcheck;

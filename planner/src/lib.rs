//! slipway-planner: build context, cache keys and plan reports (not yet built; see issue 4).
//!
//! Invariant: depends only on `slipway-parser` and `slipway-store`.

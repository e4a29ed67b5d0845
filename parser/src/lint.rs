//! slipway's best-practice rules beyond BuildKit's checks, each mapped to
//! the hadolint rule it corresponds to (being written; see issue 3).

use crate::rules::Rule;

/// The rules this module implements.
pub const RULES: &[Rule] = &[];

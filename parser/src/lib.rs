//! slipway-parser: Dockerfile text → syntax tree + diagnostics, the way
//! BuildKit's Dockerfile frontend reads it.
//!
//! - [`parse`] never fails: it returns a [`Parse`] — the tree and every
//!   problem found — and recovers at instruction boundaries.
//! - Every node carries its byte span into the parsed text; values are what
//!   BuildKit's parser makes of the text.
//! - [`shell`] expands words (`$a`, `${a:-b}`, …) as BuildKit's shell lexer does;
//!   [`expand`] applies it to an instruction's words with spans for errors.
//! - [`buildkit`] renders BuildKit-compatible views (`Node.Dump()`, the PyPI
//!   `dockerfile` JSON) for conformance testing.
//!
//! Invariants: this crate depends on no other slipway crate; it does no I/O;
//! it speaks byte offsets, never line/column or UTF-16.

pub mod buildkit;
pub mod diagnostics;
mod expand;
pub mod flags;
mod json;
mod parse;
pub mod shell;
pub mod syntax;
pub mod values;

pub use diagnostics::{Diagnostic, Phase, Severity};
pub use expand::expand;
pub use syntax::*;

/// The result of parsing: a tree and the problems found on the way.
#[derive(Debug, Clone)]
pub struct Parse {
    pub file: Dockerfile,
    pub diagnostics: Vec<Diagnostic>,
}

impl Parse {
    /// Whether BuildKit's parser would reject this file.
    pub fn rejected(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::rejects_parse)
    }

    /// Whether anything is an error (for BuildKit's parser or for a build).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }
}

/// Parses a Dockerfile. Never fails; see [`Parse::diagnostics`].
pub fn parse(text: &str) -> Parse {
    parse::parse(text)
}

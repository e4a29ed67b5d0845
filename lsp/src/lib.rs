//! slipway-lsp: the language server (not yet built; see issue 7).
//!
//! Invariant: protocol glue only; the only crate that knows LSP types and UTF-16.

//! slipway-lsp: the language server (`slipway lsp`).
//!
//! - [`analysis`]: plain functions from a document's text (parsed and modelled
//!   once per version) to plain data: hovers, completions, symbols, tokens,
//!   formatting edits, code actions. Byte offsets only; tested without the protocol.
//! - [`text`]: byte offsets ↔ positions in the negotiated encoding (UTF-16 by
//!   default), incremental edits.
//! - `server`: the tower-lsp glue: a document store mutated synchronously, each
//!   request answered from the current version's analysis; protocol types only there.
//!
//! Invariants: the only crate that knows LSP types and UTF-16; handlers hold no
//! analysis logic; diagnostics carry the version they were computed for.

pub mod analysis;
pub mod config;
mod proto;
mod server;
pub mod text;

pub use server::{Backend, PLAN_COMMAND};

use tower_lsp_server::{LspService, Server};

/// Serves the language server over any byte streams (stdio, a pipe in tests).
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) = LspService::new(Backend::new);
    Server::new(input, output, socket).serve(service).await;
}

/// `slipway lsp`: serves over standard input and output until the client exits.
pub fn run_stdio() -> std::io::Result<()> {
    // One thread runs the handlers (they take the document lock anyway): a change and
    // the task that publishes its diagnostics never hop between threads. shellcheck and
    // plans run on the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    Ok(())
}

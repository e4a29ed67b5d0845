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
mod outbox;
mod proto;
mod server;
pub mod text;

pub use server::{Backend, PLAN_COMMAND};

/// For `examples/publish_time.rs` only (not API): a publication of diagnostics written
/// as the server writes it, and as tower-lsp's client would.
#[doc(hidden)]
pub mod bench {
    pub use crate::proto::{publish_frame, tower_lsp_publication, Conv};
}

use tower_lsp_server::{LspService, Server};

/// Serves the language server over any byte streams (stdio, a pipe in tests).
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite + Send + 'static,
{
    // Publications of diagnostics are written by the server itself (see `outbox`), in
    // order with what tower-lsp writes.
    let (outbox, tower_output, queue) = outbox::outbox();
    let (service, socket) = LspService::new(move |client| Backend::new(client, outbox));
    // Its own task: joined with tower-lsp's future in this one (`tokio::join!`), the
    // in-process fuzz test (a multi-thread runtime over a socket pair) stalled now and
    // then, every thread parked with a request unread.
    let writer = tokio::spawn(outbox::write(queue, output));
    Server::new(input, tower_output, socket).serve(service).await;
    let _ = writer.await;
}

/// `slipway lsp`: serves over standard input and output until the client exits.
pub fn run_stdio() -> std::io::Result<()> {
    // One thread runs the handlers (they take the document lock anyway): a change and
    // the task that publishes its diagnostics never hop between threads. shellcheck and
    // plans run on the blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // Pipes (what editors give a server) are read and written in the event loop;
        // tokio's stdin/stdout hand every read and write to a helper thread instead,
        // which adds a thread switch each way to every message.
        match pipes() {
            Some((input, output)) => serve(input, output).await,
            None => serve(tokio::io::stdin(), tokio::io::stdout()).await,
        }
    });
    Ok(())
}

/// The size asked for the output pipe's buffer.
const PIPE_SIZE: usize = 1 << 20;

/// Standard input and output as event-loop pipes, when both are pipes.
fn pipes() -> Option<(tokio::net::unix::pipe::Receiver, tokio::net::unix::pipe::Sender)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().ok().map(std::fs::File::from);
    let (input, output) = (dup(std::io::stdin().as_fd())?, dup(std::io::stdout().as_fd())?);
    let fifo = |f: &std::fs::File| f.metadata().is_ok_and(|m| m.file_type().is_fifo());
    if !fifo(&input) || !fifo(&output) {
        return None;
    }
    // A publication of diagnostics can be larger than a pipe's default 64 KiB (79 KB for
    // 2,000 lines): the rest would wait for the client to read and for the event loop to
    // come back to it. 1 MiB is what an unprivileged process may ask for by default
    // (/proc/sys/fs/pipe-max-size); where that is refused, the pipe stays as it is.
    let _ = rustix::pipe::fcntl_setpipe_size(&output, PIPE_SIZE);
    let input = tokio::net::unix::pipe::Receiver::from_file(input).ok()?;
    match tokio::net::unix::pipe::Sender::from_file(output) {
        Ok(output) => Some((input, output)),
        Err(_) => {
            // Back to blocking, as tokio's stdin expects.
            let _ = input.into_blocking_fd();
            None
        }
    }
}

//! The server's output: one writer, in order, for tower-lsp's messages and the frames
//! the server encodes itself.
//!
//! tower-lsp turns every message it sends into a `serde_json::Value` tree first and
//! serializes that; for a publication of diagnostics, building, serializing and
//! freeing the tree took most of its time (about 0.4 of 0.6 ms for 107 diagnostics).
//! So publications are written straight from the analysis ([`crate::proto::publish_frame`])
//! and go out through this outbox, beside whatever tower-lsp writes.

use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Room for `Content-Length: <up to 20 digits>\r\n\r\n` before a frame's body.
const HEAD: usize = "Content-Length: ".len() + 20 + 4;

/// One framed message (`Content-Length` header and JSON body), ready to write.
pub struct Frame {
    buf: Vec<u8>,
    /// Where the header starts (it is written right before the body).
    start: usize,
}

impl Frame {
    /// Frames `msg` serialized as JSON, its header written in front of the body
    /// without copying the body.
    pub fn json(msg: &impl serde::Serialize, size_hint: usize) -> serde_json::Result<Frame> {
        let mut buf = Vec::with_capacity(HEAD + size_hint);
        buf.resize(HEAD, 0);
        serde_json::to_writer(&mut buf, msg)?;
        let head = format!("Content-Length: {}\r\n\r\n", buf.len() - HEAD);
        let start = HEAD - head.len();
        buf[start..HEAD].copy_from_slice(head.as_bytes());
        Ok(Frame { buf, start })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The JSON body.
    #[cfg(test)]
    pub fn body(&self) -> &[u8] {
        &self.buf[HEAD..]
    }
}

enum Item {
    /// A frame, and who waits for it to be written.
    Frame(Frame, tokio::sync::oneshot::Sender<()>),
    Bytes(Vec<u8>),
    /// tower-lsp's output closed: the server is done.
    End,
}

/// Sends frames to the writer. Cheap to clone.
#[derive(Clone)]
pub struct Outbox(mpsc::UnboundedSender<Item>);

/// The outbox, tower-lsp's output that writes into it, and the writer's queue.
pub fn outbox() -> (Outbox, TowerOutput, Queue) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Outbox(tx.clone()), TowerOutput(tx), Queue(rx))
}

impl Outbox {
    /// Queues a frame after everything sent so far. What it returns resolves once the
    /// frame is written and flushed, or once it never will be (the server is done, or
    /// writing failed).
    pub fn send(&self, frame: Frame) -> impl std::future::Future<Output = ()> + use<> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.0.send(Item::Frame(frame, tx));
        async move {
            let _ = rx.await;
        }
    }
}

/// What the writer writes, in order.
pub struct Queue(mpsc::UnboundedReceiver<Item>);

/// tower-lsp's output. tower-lsp hands its buffered bytes over in writes that each end
/// at a message's end, and every write is taken whole, so no frame of the server's
/// can land inside one of tower-lsp's messages.
pub struct TowerOutput(mpsc::UnboundedSender<Item>);

impl AsyncWrite for TowerOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        // After the writer stopped (the output failed), bytes are dropped as a failed pipe would.
        let _ = self.0.send(Item::Bytes(buf.to_vec()));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The writer flushes whenever its queue runs empty.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let _ = self.0.send(Item::End);
        Poll::Ready(Ok(()))
    }
}

impl Drop for TowerOutput {
    fn drop(&mut self) {
        let _ = self.0.send(Item::End);
    }
}

/// Writes the queue to `output` in order until tower-lsp's output closes (tasks that
/// still hold an [`Outbox`] then no longer keep the server alive) or writing fails.
pub async fn write<O: AsyncWrite>(mut queue: Queue, output: O) {
    tokio::pin!(output);
    let mut waiting = Vec::new();
    while let Some(item) = queue.0.recv().await {
        let mut next = Some(item);
        // Everything queued now, then one flush.
        while let Some(item) = next.take() {
            let written = match item {
                Item::Frame(f, written) => {
                    waiting.push(written);
                    output.write_all(f.bytes()).await
                }
                Item::Bytes(b) => output.write_all(&b).await,
                Item::End => {
                    let _ = output.flush().await;
                    return;
                }
            };
            if written.is_err() {
                return;
            }
            next = queue.0.try_recv().ok();
        }
        if output.flush().await.is_err() {
            return;
        }
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_length_of_their_body() {
        let f = Frame::json(&serde_json::json!({"a": "é"}), 0).unwrap();
        assert_eq!(f.bytes(), "Content-Length: 10\r\n\r\n{\"a\":\"é\"}".as_bytes());
        assert_eq!(f.body(), "{\"a\":\"é\"}".as_bytes());
    }

    #[tokio::test]
    async fn frames_and_tower_lsp_writes_go_out_in_order_until_its_output_closes() {
        let (outbox, mut tower, queue) = outbox();
        let (w, mut r) = tokio::io::duplex(1 << 16);
        let writer = tokio::spawn(write(queue, w));
        tower.write_all(b"one").await.unwrap();
        outbox.send(Frame::json(&2, 0).unwrap()).await;
        tower.write_all(b"three").await.unwrap();
        drop(tower);
        writer.await.unwrap();
        // The writer is gone: nobody waits forever for a late frame.
        outbox.send(Frame::json(&4, 0).unwrap()).await;
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut out).await.unwrap();
        assert_eq!(out, b"oneContent-Length: 1\r\n\r\n2three");
    }
}

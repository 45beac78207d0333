//! Connections whose writes wait one turn of the scheduler, so that what
//! many streams send in the same moment leaves in one write.
//!
//! A lamp change wakes every watcher's HTTP/2 stream at once. Each stream
//! hands its frame to the connection and wakes the connection's task, and
//! the runtime runs a task woken that way next: so the connection wrote
//! after every single frame, one system call and one loopback packet per
//! watcher (measured: one `write` per delivery). Here a write that comes
//! close on the heels of the previous one yields instead: the connection's
//! task goes to the back of the run queue, every stream ahead of it adds
//! its frame to the connection's buffer, and the next try writes them all
//! together.
//!
//! Only a write that follows the connection's previous one closely (within
//! [`BURST`]) waits: a lone reply, the common case of a unary RPC on a
//! connection that is not busy, goes out at once. A flush yields at most
//! once. The wait is one turn of the scheduler, never a timer, like
//! TCP_CORK that uncorks itself; it is best-effort: a worker that is idle
//! may steal the connection's task and write sooner, with what is there.
//!
//! Under TLS, tonic puts the TLS stream on top of this one: the records
//! TLS produces are what waits, and how much that batches is not measured.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// A write this soon after the connection's previous one is taken to be
/// part of a burst, and waits for the rest of it.
pub const BURST: Duration = Duration::from_millis(1);

/// An I/O stream whose writes in a burst are batched across one scheduler
/// turn.
#[derive(Debug)]
pub struct BatchedWrites<IO> {
    io: IO,
    /// How soon after the last write a write counts as part of a burst.
    burst: Duration,
    /// When the last write went out.
    last_write: Option<Instant>,
    /// The connection already yielded once in the flush under way; the
    /// rest of that flush goes through.
    yielded: bool,
}

impl<IO> BatchedWrites<IO> {
    /// `io`, with writes in a burst of [`BURST`] batched.
    pub fn new(io: IO) -> Self {
        Self::with_burst(io, BURST)
    }

    /// `io`, with a write within `burst` of the previous one batched.
    pub(crate) fn with_burst(io: IO, burst: Duration) -> Self {
        Self {
            io,
            burst,
            last_write: None,
            yielded: false,
        }
    }

    /// Before a write in a burst: yield once (waking ourselves, which puts
    /// the task at the back of the run queue), so the writers queued ahead
    /// of us add to what goes out.
    fn yield_in_burst(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let in_burst = self.last_write.is_some_and(|at| at.elapsed() < self.burst);
        if self.yielded || !in_burst {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// After a write: the next burst is timed from now.
    fn wrote<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.last_write = Some(Instant::now());
        }
        result
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for BatchedWrites<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for BatchedWrites<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.yield_in_burst(cx));
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.yield_in_burst(cx));
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// A flush that is done ends the burst's yield: the next write in a
    /// burst yields again. (Partial writes and a full buffer within one
    /// flush do not each cost a turn of the scheduler.)
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_flush(cx);
        if result.is_ready() {
            self.yielded = false;
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for BatchedWrites<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_lone_write_goes_at_once_and_one_in_a_burst_yields_once() {
        let (near, mut far) = tokio::io::duplex(1024);
        // Every write is in the burst of the one before (a day long).
        let mut io = BatchedWrites::with_burst(near, Duration::from_secs(86_400));
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = wakes.clone().into();
        let mut cx = Context::from_waker(&waker);

        let lone = Pin::new(&mut io).poll_write(&mut cx, b"reply ");
        assert!(matches!(lone, Poll::Ready(Ok(6))), "{lone:?}");

        // Right after it: a burst. The write yields, waking itself.
        let first = Pin::new(&mut io).poll_write(&mut cx, b"frame-1 ");
        assert!(first.is_pending());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "it must wake itself");
        // Meanwhile other streams queued more: the retry writes it all.
        let retry = Pin::new(&mut io).poll_write(&mut cx, b"frame-1 frame-2");
        assert!(matches!(retry, Poll::Ready(Ok(15))), "{retry:?}");
        // The rest of the same flush goes straight through...
        let rest = Pin::new(&mut io).poll_write(&mut cx, b" +");
        assert!(matches!(rest, Poll::Ready(Ok(2))), "{rest:?}");
        assert!(Pin::new(&mut io).poll_flush(&mut cx).is_ready());
        // ...and after the flush, the next write in the burst yields again.
        assert!(Pin::new(&mut io).poll_write(&mut cx, b"x").is_pending());

        // Once the burst is over, a write goes at once again.
        io.burst = Duration::ZERO;
        io.yielded = false;
        let later = Pin::new(&mut io).poll_write(&mut cx, b" later");
        assert!(matches!(later, Poll::Ready(Ok(6))), "{later:?}");

        drop(io);
        let mut got = String::new();
        far.read_to_string(&mut got).await.expect("readable");
        assert_eq!(got, "reply frame-1 frame-2 + later");
    }

    #[tokio::test]
    async fn everything_written_arrives_in_order() {
        let (near, mut far) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            let mut io = BatchedWrites::new(near);
            for i in 0..500u32 {
                io.write_all(format!("{i},").as_bytes())
                    .await
                    .expect("write");
            }
            io.shutdown().await.expect("shutdown");
        });
        let mut got = String::new();
        far.read_to_string(&mut got).await.expect("readable");
        writer.await.expect("writer ends");
        let want: String = (0..500u32).map(|i| format!("{i},")).collect();
        assert_eq!(got, want);
    }
}

//! Bounded connections on the gRPC port.
//!
//! A connection costs a file descriptor and memory before it has sent a
//! byte, so the port does not take them on trust:
//!
//! - **caps**: at most `max_total` open connections, and `max_per_source`
//!   from one IP address; a connection over a cap is closed at once;
//! - **a handshake deadline**: a connection must send its first bytes (a TLS
//!   ClientHello, or the HTTP/2 preface) within `handshake`, or it is closed;
//! - **an idle deadline**: one that sends nothing for `idle` is closed (a
//!   live client answers the server's HTTP/2 keepalive pings, so only a
//!   stalled one goes quiet that long);
//! - **accept errors** (out of file descriptors, say) are logged, counted and
//!   met with a growing pause, never a spin.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// The bytes a client must send within the handshake deadline: the HTTP/2
/// preface is 24 bytes, a TLS ClientHello more.
const HANDSHAKE_BYTES: u64 = 24;
/// The longest pause after an accept error.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

/// The bounds of the port.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_total: usize,
    pub max_per_source: usize,
    pub handshake: Duration,
    pub idle: Duration,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Takes one slot for `source`, if the caps allow.
fn admit(counts: &Arc<Mutex<Counts>>, limits: &Limits, source: IpAddr) -> Option<Slot> {
    let mut c = counts.lock().expect("connection counts poisoned");
    let from_source = c.by_source.get(&source).copied().unwrap_or(0);
    if c.total >= limits.max_total || from_source >= limits.max_per_source {
        return None;
    }
    c.total += 1;
    c.by_source.insert(source, from_source + 1);
    metrics::gauge!("callgrid_connections_open").set(c.total as f64);
    Some(Slot {
        counts: counts.clone(),
        source,
    })
}

/// A connection's place under the caps, given back when it closes.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().expect("connection counts poisoned");
        c.total -= 1;
        if let Some(n) = c.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                c.by_source.remove(&self.source);
            }
        }
        metrics::gauge!("callgrid_connections_open").set(c.total as f64);
    }
}

/// Accepts on `listener` within `limits`, for as long as the returned
/// stream is read; TCP_NODELAY is set on every connection.
pub fn incoming(
    listener: TcpListener,
    limits: Limits,
) -> impl futures::Stream<Item = io::Result<Bounded>> {
    let (tx, mut rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let counts = Arc::new(Mutex::new(Counts::default()));
        let mut pause = Duration::from_millis(10);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    pause = Duration::from_millis(10);
                    let Some(slot) = admit(&counts, &limits, peer.ip()) else {
                        metrics::counter!("callgrid_connections_refused_total", "reason" => "cap")
                            .increment(1);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let conn = Bounded::new(stream, slot, limits);
                    if tx.send(Ok(conn)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    metrics::counter!("callgrid_accept_errors_total").increment(1);
                    tracing::warn!(error = %e, pause = ?pause, "cannot accept a connection; pausing");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
                }
            }
        }
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A TCP connection held to the handshake and idle deadlines.
pub struct Bounded {
    stream: TcpStream,
    _slot: Slot,
    limits: Limits,
    read: u64,
    deadline: Pin<Box<Sleep>>,
    /// When the idle deadline was last pushed back (it moves at most once a
    /// second, not on every read).
    pushed: Instant,
}

impl Bounded {
    fn new(stream: TcpStream, slot: Slot, limits: Limits) -> Self {
        let now = Instant::now();
        Bounded {
            stream,
            _slot: slot,
            limits,
            read: 0,
            deadline: Box::pin(tokio::time::sleep_until(now + limits.handshake)),
            pushed: now,
        }
    }
}

impl AsyncRead for Bounded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        let got = (buf.filled().len() - before) as u64;
        if got > 0 {
            self.read += got;
            let now = Instant::now();
            let just_shook_hands = self.read - got < HANDSHAKE_BYTES;
            if self.read >= HANDSHAKE_BYTES
                && (just_shook_hands || now.duration_since(self.pushed) >= Duration::from_secs(1))
            {
                let idle = self.limits.idle;
                self.deadline.as_mut().reset(now + idle);
                self.pushed = now;
            }
            return polled;
        }
        if polled.is_pending() && self.deadline.as_mut().poll(cx).is_ready() {
            let why = if self.read < HANDSHAKE_BYTES {
                "handshake"
            } else {
                "idle"
            };
            metrics::counter!("callgrid_connections_closed_total", "reason" => why).increment(1);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection closed: {why} deadline passed"),
            )));
        }
        polled
    }
}

impl AsyncWrite for Bounded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Connected for Bounded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits() -> Limits {
        Limits {
            max_total: 3,
            max_per_source: 2,
            handshake: Duration::from_millis(200),
            idle: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_source_over_its_cap_is_closed_at_once_and_a_silent_one_at_the_deadline() {
        use futures::StreamExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut conns = Box::pin(incoming(listener, limits()));
        let mut first = TcpStream::connect(addr).await.expect("connect");
        let _second = TcpStream::connect(addr).await.expect("connect");
        let mut third = TcpStream::connect(addr).await.expect("connect");
        let mut a = conns.next().await.expect("one").expect("accepted");
        let _b = conns.next().await.expect("two").expect("accepted");
        // The third from the same address is over the per-source cap: closed.
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(2), third.read(&mut byte))
            .await
            .expect("closed within 2 s");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
        // A connection that sends its preface is served past the deadline...
        first.write_all(&[0u8; 24]).await.expect("write");
        let mut got = [0u8; 24];
        a.read_exact(&mut got).await.expect("read the preface");
        // ...one that says nothing is closed at the handshake deadline.
        let mut b = _b;
        let silent = tokio::time::timeout(Duration::from_secs(2), b.read(&mut byte))
            .await
            .expect("the deadline fires");
        assert_eq!(silent.expect_err("closed").kind(), io::ErrorKind::TimedOut);
    }
}

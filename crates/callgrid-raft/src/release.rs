//! Knowing when every store handle is gone.
//!
//! openraft hands clones of the stores to tasks it does not join on
//! `shutdown()` (the state machine worker, snapshot builders, replication
//! readers), and sled keeps its directory lock until the last handle
//! drops. A node that reopens its data directory in-process must wait for
//! that moment rather than guess it.

use tokio::sync::watch;

/// Held by every store handle, as its last field so that it drops after
/// the sled handles beside it.
#[derive(Debug, Clone)]
pub(crate) struct StoreLease {
    _held: watch::Receiver<()>,
}

/// Completes waiters once every [`StoreLease`] has dropped.
#[derive(Debug)]
pub(crate) struct LeaseWatch {
    tx: watch::Sender<()>,
}

pub(crate) fn new_lease() -> (LeaseWatch, StoreLease) {
    let (tx, rx) = watch::channel(());
    (LeaseWatch { tx }, StoreLease { _held: rx })
}

impl LeaseWatch {
    pub(crate) async fn released(&self) {
        self.tx.closed().await;
    }
}

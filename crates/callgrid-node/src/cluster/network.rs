//! openraft's network over the `Peer` gRPC service.
//!
//! **Commit notices leave beside the replication stream.** openraft sends
//! a follower one AppendEntries at a time. When an entry commits, it
//! tells each follower the new commit index at once, in an empty
//! AppendEntries (a commit notice), and the next entry, proposed as soon
//! as the previous one commits, then waits for that notice's round trip
//! before it can be sent: every commit took two round trips to the
//! follower instead of one. A notice only tells the follower something;
//! the follower has just confirmed the very log it names. So a link
//! answers a notice for openraft at once, with the success the follower
//! gave moments before, and sends the notice itself in a task of its own
//! (one at a time per follower, the newest replacing any not yet sent,
//! and none at all once a later append has carried its commit index).
//! The leader's next entry then goes out without waiting.
//!
//! What stays exact: an append that carries entries, a heartbeat that
//! carries no news, and anything after a refusal, an append left
//! unanswered (openraft drops one at its timeout) or a change of vote go
//! to the follower and answer what it says, so elections, conflicts and
//! the leader's count of followers that still hear it (its quorum check)
//! see only real answers. A follower that sees a notice after the next
//! append (they may cross on the wire) keeps the later state: it neither
//! shortens its log for an append with no entries nor moves its commit
//! index back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callgrid_proto::internal::peer_client::PeerClient;
use callgrid_raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    LogId, NodeId, RaftError, RpcError, TypeConfig, Vote, VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use openraft::error::{InstallSnapshotError, NetworkError, RemoteError, Unreachable};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use serde::{Serialize, de::DeserializeOwned};
use tonic::transport::Channel;

use crate::peers::Peers;
use crate::wire::{decode, encode};

/// The first wait before trying an unreachable peer again.
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
/// The longest wait between tries of an unreachable peer.
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long a commit notice may take before the next one is tried. A
/// notice that fails is not retried: the next append or heartbeat (every
/// 100 ms) carries the commit index too.
const NOTICE_WITHIN: Duration = Duration::from_secs(1);

/// Hands openraft a client per peer.
#[derive(Clone)]
pub struct PeerNetwork {
    pub peers: Peers,
}

/// One peer, as openraft's replication and election tasks see it.
pub struct PeerLink {
    target: NodeId,
    node: BasicNode,
    client: Option<PeerClient<Channel>>,
    /// The vote and the log id up to which the peer last said its log
    /// matches ours, from a real success; `None` after anything else.
    confirmed: Option<(Vote, Option<LogId>)>,
    /// The newest commit index a request to the peer carried.
    commit_sent: Option<LogId>,
    notices: Arc<Mutex<Notices>>,
}

/// The commit notices of one link.
#[derive(Default)]
struct Notices {
    /// A task is sending them.
    sending: bool,
    /// The newest not yet sent.
    next: Option<AppendEntriesRequest>,
    /// The newest commit index an append with entries, or a heartbeat,
    /// carried: a notice of no more is not sent.
    carried: Option<LogId>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerLink {
        PeerLink {
            target,
            node: node.clone(),
            client: self.peers.client(&node.addr).ok(),
            confirmed: None,
            commit_sent: None,
            notices: Arc::default(),
        }
    }
}

fn unreachable<E: std::error::Error>(why: impl std::fmt::Display) -> RpcError<E> {
    RpcError::Unreachable(Unreachable::new(&std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        why.to_string(),
    )))
}

impl PeerLink {
    /// Sends one Raft RPC and unpacks the peer's `Result`.
    ///
    /// No deadline here: openraft bounds every RPC it sends by the
    /// `RPCOption` it passes, and reports the overrun as a timeout. Timing
    /// out here instead would have to say `Unreachable`, and openraft then
    /// stops sending to that peer for a back-off interval: a follower busy
    /// for one heartbeat would not learn of new commits for that long (its
    /// watchers saw lamp changes half a second late under BLF load).
    /// `Unreachable` is kept for a peer that cannot be connected to.
    async fn call<Req, Resp, E>(
        &mut self,
        which: &'static str,
        request: &Req,
    ) -> Result<Resp, RpcError<RaftError<E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let Some(client) = self.client.as_mut() else {
            return Err(unreachable(format!(
                "node {} at {} has a bad address",
                self.target, self.node.addr
            )));
        };
        let payload = encode(request).map_err(|s| RpcError::Network(NetworkError::new(&s)))?;
        let call = async {
            match which {
                "append" => client.append_entries(payload).await,
                "vote" => client.vote(payload).await,
                _ => client.install_snapshot(payload).await,
            }
        };
        let sent = std::time::Instant::now();
        let answered = call.await;
        metrics::histogram!("callgrid_peer_rpc_seconds", "rpc" => which).record(sent.elapsed());
        let reply = match answered {
            Err(status) if status.code() == tonic::Code::Unavailable => {
                return Err(unreachable(format!(
                    "node {} ({which}): {}",
                    self.target,
                    status.message()
                )));
            }
            Err(status) => return Err(RpcError::Network(NetworkError::new(&status))),
            Ok(reply) => reply.into_inner(),
        };
        let result: Result<Resp, RaftError<E>> =
            decode(&reply.data).map_err(|s| RpcError::Network(NetworkError::new(&s)))?;
        result.map_err(|e| {
            RpcError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl PeerLink {
    /// An AppendEntries whose only news is a higher commit index, for a
    /// log the peer has just confirmed under the same vote.
    fn is_commit_notice(&self, rpc: &AppendEntriesRequest) -> bool {
        rpc.entries.is_empty()
            && rpc.leader_commit > self.commit_sent
            && self.client.is_some()
            && self.confirmed == Some((rpc.vote, rpc.prev_log_id))
    }

    /// Queues `notice` for this link's notice task, starting it if idle.
    fn send_notice(&self, notice: AppendEntriesRequest) {
        let mut notices = self.notices.lock().expect("notices lock poisoned");
        notices.next = Some(notice);
        if std::mem::replace(&mut notices.sending, true) {
            return;
        }
        drop(notices);
        let mut link = PeerLink {
            target: self.target,
            node: self.node.clone(),
            client: self.client.clone(),
            confirmed: None,
            commit_sent: None,
            notices: Arc::default(),
        };
        let notices = self.notices.clone();
        tokio::spawn(async move {
            loop {
                let notice = {
                    let mut n = notices.lock().expect("notices lock poisoned");
                    match n.next.take() {
                        Some(notice) if notice.leader_commit <= n.carried => {
                            metrics::counter!("callgrid_raft_commit_notices_total", "outcome" => "carried")
                                .increment(1);
                            continue;
                        }
                        Some(notice) => notice,
                        None => {
                            n.sending = false;
                            return;
                        }
                    }
                };
                let sent = tokio::time::timeout(
                    NOTICE_WITHIN,
                    link.call::<_, AppendEntriesResponse, openraft::error::Infallible>(
                        "append", &notice,
                    ),
                )
                .await;
                let outcome = match sent {
                    Ok(Ok(_)) => "sent",
                    Ok(Err(e)) => {
                        tracing::debug!(target_node = link.target, error = %e, "commit notice not taken");
                        "failed"
                    }
                    Err(_) => "timed_out",
                };
                metrics::counter!("callgrid_raft_commit_notices_total", "outcome" => outcome)
                    .increment(1);
            }
        });
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    /// See the module's notes: a commit notice is answered here and sent
    /// beside; everything else goes to the peer and answers what it says.
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse, RpcError<RaftError>> {
        if self.is_commit_notice(&rpc) {
            self.commit_sent = rpc.leader_commit;
            self.send_notice(rpc);
            return Ok(AppendEntriesResponse::Success);
        }
        self.commit_sent = self.commit_sent.max(rpc.leader_commit);
        {
            let mut notices = self.notices.lock().expect("notices lock poisoned");
            notices.carried = notices.carried.max(rpc.leader_commit);
        }
        let vote = rpc.vote;
        let last = rpc.entries.last().map(|e| e.log_id).max(rpc.prev_log_id);
        // Until this request is answered, nothing is answered for the
        // peer: openraft may drop it unanswered (its own timeout), and a
        // peer that stopped answering must not look alive.
        self.confirmed = None;
        let answer = self.call("append", &rpc).await;
        self.confirmed = match &answer {
            Ok(AppendEntriesResponse::Success) => Some((vote, last)),
            Ok(AppendEntriesResponse::PartialSuccess(matching)) => Some((vote, *matching)),
            _ => None,
        };
        answer
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RpcError<RaftError<InstallSnapshotError>>> {
        self.call("snapshot", &rpc).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest,
        _option: RPCOption,
    ) -> Result<VoteResponse, RpcError<RaftError>> {
        self.call("vote", &rpc).await
    }

    /// After `Unreachable`, openraft waits these intervals between tries
    /// (until one succeeds). Starting short means a peer that was only
    /// restarting, or whose connection was reset, is caught up within tens
    /// of milliseconds; the cap keeps a dead peer from costing much.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::successors(Some(BACKOFF_FIRST), |d| {
            Some((*d * 2).min(BACKOFF_MAX))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callgrid_proto::internal::peer_server::{Peer, PeerServer};
    use callgrid_proto::internal::{
        DecideRequest, JoinRequest, JoinResponse, Payload, PingRequest, PingResponse,
    };
    use tonic::{Request, Response, Status};

    fn heartbeat() -> AppendEntriesRequest {
        AppendEntriesRequest {
            vote: callgrid_raft::Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: Vec::new(),
        }
    }

    async fn link_to(addr: &str) -> PeerLink {
        let mut network = PeerNetwork {
            peers: crate::peers::Peers::default(),
        };
        network.new_client(2, &BasicNode::new(addr)).await
    }

    #[tokio::test]
    async fn a_peer_slower_than_the_rpc_option_is_waited_for_not_called_unreachable() {
        let addr = serve(FakePeer {
            delay: Duration::from_millis(150),
            seen: None,
            release: None,
            answer: || AppendEntriesResponse::Success,
        });
        let mut link = link_to(&addr).await;
        // openraft's own deadline for this RPC is shorter than the peer's
        // delay; bounding the wait is openraft's job, not the link's.
        let option = RPCOption::new(Duration::from_millis(50));
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            link.append_entries(heartbeat(), option),
        )
        .await
        .expect("the slow peer answers within 10 s");
        assert!(
            matches!(reply, Ok(AppendEntriesResponse::Success)),
            "{reply:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_nobody_listens_for_is_unreachable() {
        // Bound but never listening: the port stays ours for the test
        // (no parallel test can take it), and every connection is refused.
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("a loopback port");
        let addr = socket.local_addr().expect("bound").to_string();
        let mut link = link_to(&addr).await;
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            link.append_entries(heartbeat(), RPCOption::new(Duration::from_secs(1))),
        )
        .await
        .expect("a refused connection fails within 10 s");
        assert!(matches!(reply, Err(RpcError::Unreachable(_))), "{reply:?}");
        drop(socket);
    }

    /// A peer that answers every append with `answer`, after `delay`;
    /// when given, it reports each append to `seen` and answers only once
    /// the test adds a permit to `release`.
    struct FakePeer {
        delay: Duration,
        seen: Option<tokio::sync::mpsc::UnboundedSender<AppendEntriesRequest>>,
        release: Option<Arc<tokio::sync::Semaphore>>,
        answer: fn() -> AppendEntriesResponse,
    }

    /// Serves `peer` on a loopback port; its address.
    fn serve(peer: FakePeer) -> String {
        let incoming = tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap())
            .expect("a loopback port");
        let addr = incoming.local_addr().expect("bound").to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(PeerServer::new(peer))
                .serve_with_incoming(incoming),
        );
        addr
    }

    #[tonic::async_trait]
    impl Peer for FakePeer {
        async fn append_entries(
            &self,
            request: Request<Payload>,
        ) -> Result<Response<Payload>, Status> {
            let rpc: AppendEntriesRequest = decode(&request.get_ref().data)?;
            if let Some(seen) = &self.seen {
                let _ = seen.send(rpc);
            }
            if let Some(release) = &self.release {
                release
                    .acquire()
                    .await
                    .map_err(|_| Status::unavailable("closed"))?
                    .forget();
            }
            tokio::time::sleep(self.delay).await;
            let ok: Result<AppendEntriesResponse, RaftError> = Ok((self.answer)());
            encode(&ok).map(Response::new)
        }
        async fn vote(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("vote"))
        }
        async fn install_snapshot(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("install_snapshot"))
        }
        async fn propose(&self, _: Request<Payload>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("propose"))
        }
        async fn decide(&self, _: Request<DecideRequest>) -> Result<Response<Payload>, Status> {
            Err(Status::unimplemented("decide"))
        }
        async fn join(&self, _: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
            Err(Status::unimplemented("join"))
        }
        async fn ping(&self, _: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
            Err(Status::unimplemented("ping"))
        }
    }

    struct Held {
        link: PeerLink,
        seen: tokio::sync::mpsc::UnboundedReceiver<AppendEntriesRequest>,
        release: Arc<tokio::sync::Semaphore>,
    }

    /// A link to a [`FakePeer`] that answers `answer` once released.
    async fn held_peer(answer: fn() -> AppendEntriesResponse) -> Held {
        let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let addr = serve(FakePeer {
            delay: Duration::ZERO,
            seen: Some(seen_tx),
            release: Some(release.clone()),
            answer,
        });
        Held {
            link: link_to(&addr).await,
            seen,
            release,
        }
    }

    fn log_id(index: u64) -> LogId {
        LogId::new(openraft::CommittedLeaderId::new(1, 1), index)
    }

    /// An append of entries `from..=to` after `from - 1`, telling commit
    /// index `committed`.
    fn append(from: u64, to: u64, committed: Option<u64>) -> AppendEntriesRequest {
        AppendEntriesRequest {
            vote: callgrid_raft::Vote::new_committed(1, 1),
            prev_log_id: from.checked_sub(1).filter(|i| *i > 0).map(log_id),
            leader_commit: committed.map(log_id),
            entries: (from..=to)
                .map(|i| callgrid_raft::Entry {
                    log_id: log_id(i),
                    payload: openraft::EntryPayload::Blank,
                })
                .collect(),
        }
    }

    /// The next append the peer reports, within 10 s.
    async fn next_seen(held: &mut Held) -> AppendEntriesRequest {
        tokio::time::timeout(Duration::from_secs(10), held.seen.recv())
            .await
            .expect("the peer hears an append within 10 s")
            .expect("the peer is still up")
    }

    /// Sends `rpc` over the link while the peer holds its answer until
    /// released: returns the answer once released.
    async fn sent_and_released(
        held: &mut Held,
        rpc: AppendEntriesRequest,
    ) -> Result<AppendEntriesResponse, RpcError<RaftError>> {
        let option = RPCOption::new(Duration::from_secs(10));
        let call = held.link.append_entries(rpc, option);
        let release = held.release.clone();
        let (answer, ()) = tokio::join!(call, async move { release.add_permits(1) });
        answer
    }

    #[tokio::test]
    async fn a_commit_notice_is_answered_at_once_and_sent_beside_the_stream() {
        let mut held = held_peer(|| AppendEntriesResponse::Success).await;
        // Entries 1-2 go to the peer and are confirmed by it.
        let answer = sent_and_released(&mut held, append(1, 2, None)).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        assert_eq!(next_seen(&mut held).await.entries.len(), 2);
        // They commit: the notice (no entries, commit index 2) is answered
        // while the peer still holds it, so the next entry need not wait.
        let mut notice = append(3, 2, Some(2));
        notice.prev_log_id = Some(log_id(2));
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            held.link
                .append_entries(notice, RPCOption::new(Duration::from_secs(10))),
        )
        .await
        .expect("answered without the peer's answer");
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        // ...and still reaches the peer.
        let told = next_seen(&mut held).await;
        assert!(told.entries.is_empty());
        assert_eq!(told.leader_commit, Some(log_id(2)));
        // The next entry goes to the peer beside it and waits for its answer.
        held.release.add_permits(1);
        let answer = sent_and_released(&mut held, append(3, 3, Some(2))).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        assert_eq!(next_seen(&mut held).await.entries.len(), 1);
    }

    #[tokio::test]
    async fn a_notice_after_an_append_dropped_unanswered_goes_to_the_peer() {
        let mut held = held_peer(|| AppendEntriesResponse::Success).await;
        let answer = sent_and_released(&mut held, append(1, 1, None)).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        next_seen(&mut held).await;
        // openraft gives up on the next append (its timeout) while the
        // peer still holds it...
        let dropped = tokio::time::timeout(
            Duration::from_millis(100),
            held.link
                .append_entries(append(2, 2, None), RPCOption::new(Duration::from_secs(10))),
        )
        .await;
        assert!(dropped.is_err(), "the peer holds the append");
        next_seen(&mut held).await;
        // ...so a notice for the log confirmed before is not answered for
        // the peer: it waits for the peer's own answer.
        let mut notice = append(2, 1, Some(1));
        notice.prev_log_id = Some(log_id(1));
        let pending = tokio::time::timeout(
            Duration::from_millis(300),
            held.link
                .append_entries(notice, RPCOption::new(Duration::from_secs(10))),
        )
        .await;
        assert!(
            pending.is_err(),
            "a peer that stopped answering is not answered for"
        );
        assert!(next_seen(&mut held).await.entries.is_empty());
        held.release.add_permits(2);
    }

    #[tokio::test]
    async fn a_heartbeat_with_no_news_and_a_notice_after_a_refusal_go_to_the_peer() {
        let mut held = held_peer(|| AppendEntriesResponse::Success).await;
        let answer = sent_and_released(&mut held, append(1, 1, Some(1))).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Success)),
            "{answer:?}"
        );
        next_seen(&mut held).await;
        // The same commit index again: a heartbeat. It is answered by the
        // peer, so the leader's count of followers that hear it stays real.
        let mut heartbeat = append(2, 1, Some(1));
        heartbeat.prev_log_id = Some(log_id(1));
        let pending = tokio::time::timeout(
            Duration::from_millis(300),
            held.link
                .append_entries(heartbeat.clone(), RPCOption::new(Duration::from_secs(10))),
        )
        .await;
        assert!(pending.is_err(), "a heartbeat waits for the peer's answer");
        next_seen(&mut held).await;
        held.release.add_permits(1);

        // A peer that refuses: nothing is answered on its behalf after.
        let mut refusing = held_peer(|| AppendEntriesResponse::Conflict).await;
        let answer = sent_and_released(&mut refusing, append(1, 1, None)).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Conflict)),
            "{answer:?}"
        );
        next_seen(&mut refusing).await;
        let mut notice = append(2, 1, Some(1));
        notice.prev_log_id = Some(log_id(1));
        let answer = sent_and_released(&mut refusing, notice).await;
        assert!(
            matches!(answer, Ok(AppendEntriesResponse::Conflict)),
            "{answer:?}"
        );
        assert!(next_seen(&mut refusing).await.entries.is_empty());
    }

    #[tokio::test]
    async fn backoff_from_an_unreachable_peer_starts_short_and_is_capped() {
        let link = link_to("127.0.0.1:1").await;
        let waits: Vec<Duration> = link.backoff().take(8).collect();
        assert_eq!(waits[0], BACKOFF_FIRST);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(*waits.last().expect("eight waits"), BACKOFF_MAX);
    }
}

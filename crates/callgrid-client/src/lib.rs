//! callgrid-client: a shard-aware client of the public `callgrid.v1` API.
//!
//! Every extension, call group and park lot of a callgrid cluster is owned
//! by one node (the shard map, replicated with an epoch). Any node answers
//! any request, forwarding it to the owner when it is not the owner itself;
//! this client saves that hop. It learns the members and the shard map from
//! `Cluster.Status`, keeps a connection to every member, and hands out the
//! owner's connection for each request's key:
//!
//! ```no_run
//! # async fn example() -> Result<(), callgrid_client::Error> {
//! use callgrid_client::{Client, Key};
//! use callgrid_proto::v1::{DirectedPickupRequest, pickup_client::PickupClient};
//!
//! let client = Client::connect(&["127.0.0.1:7700"]).await?;
//! // A directed pickup is decided by the owner of the ringing extension.
//! let owner = client.channel(&Key::extension("acme", "102")?);
//! let answer = PickupClient::new(owner)
//!     .directed_pickup(DirectedPickupRequest {
//!         tenant: "acme".into(),
//!         picker: "101".into(),
//!         target: "102".into(),
//!     })
//!     .await;
//! # let _ = answer;
//! # Ok(())
//! # }
//! ```
//!
//! **Which key.** A claim is decided by the home of the call it would
//! take (its callee's extension, or the call group that owns the dialled
//! number) and a retrieve by the tenant's park lot, so that every racer for
//! one call meets the others in one place. A directed or BLF pickup: the
//! target extension. A group pickup, `*98` or `88<name>`: the picker's
//! extension. Park and retrieve: [`Key::park_lot`]. A dial of an extension:
//! that extension. Answer and hang-up: the callee's extension, or any node
//! ([`Client::any`]). Where the cluster knows better (the call rings
//! through a call group, a group pickup takes a call homed elsewhere), the
//! node that gets the request forwards it, one hop.
//!
//! **A stale map costs a hop, never an answer.** A node that receives a
//! request it does not own forwards it, so a request sent by an old map is
//! still decided by the owner. The client looks again on its own with
//! [`Client::refresh`] (call it after membership changes, or on a timer
//! with [`Client::keep_fresh`]); like a Redis Cluster client after a MOVED,
//! it then sends straight to the new owner.
//!
//! A plain gRPC client (grpcurl, Python, callgridctl) needs none of this:
//! it talks to any node.
//!
//! **Retries.** [`under_one_id`] sends a request that changes something
//! under one request id, and again under the same id while the cluster
//! answers that it could not decide it or cannot say whether it took
//! effect: the cluster applies an id at most once and answers each retry
//! with the first outcome.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use callgrid_model::{Extension, OwnerKey, SHARD_COUNT, TenantId, ValidationError};
use callgrid_proto::v1::{StatusRequest, cluster_client::ClusterClient};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Sends of one request before [`under_one_id`] gives up on it.
pub const ATTEMPTS: u32 = 4;
/// The pause before the first retry; each next one doubles it (0.7 s of
/// pauses in all).
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Sends `message` under the request id `id`, and again under the same id
/// while the answer is `UNAVAILABLE` (either kind of undecided answer, or a
/// connection that failed) or `DEADLINE_EXCEEDED` (the caller's own
/// deadline), [`ATTEMPTS`] sends at most ([`Backoff::DEFAULT`]); `send` may
/// dress each request (a token, a deadline) before it goes. The last answer
/// is returned: decided, refused, or still undecided.
pub async fn under_one_id<T, R, Fut>(
    message: T,
    id: &str,
    send: impl FnMut(Request<T>) -> Fut,
) -> Result<R, Status>
where
    T: Clone,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    under_one_id_with(Backoff::DEFAULT, message, id, send).await
}

/// How many sends [`under_one_id_with`] makes at most, and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Sends in all, the first included (at least one is made).
    pub attempts: u32,
    /// The pause before the first retry; each next one doubles it...
    pub first_pause: Duration,
    /// ...up to this.
    pub max_pause: Duration,
}

impl Backoff {
    /// [`ATTEMPTS`] sends, 100 ms apart at first, doubling.
    pub const DEFAULT: Backoff = Backoff {
        attempts: ATTEMPTS,
        first_pause: FIRST_PAUSE,
        max_pause: Duration::MAX,
    };
}

/// [`under_one_id`] with a [`Backoff`] of the caller's own.
pub async fn under_one_id_with<T, R, Fut>(
    backoff: Backoff,
    message: T,
    id: &str,
    mut send: impl FnMut(Request<T>) -> Fut,
) -> Result<R, Status>
where
    T: Clone,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let mut pause = backoff.first_pause.min(backoff.max_pause);
    let mut attempt = 1;
    loop {
        let request = callgrid_proto::retry::with_request_id(message.clone(), id);
        match send(request).await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status)
                if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
                    && attempt < backoff.attempts =>
            {
                tracing::debug!(%status, attempt, request_id = id, "not decided yet; sending again under the same id");
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2).min(backoff.max_pause);
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

/// Why the client could not connect or refresh.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("no seed node answered Cluster.Status: {0}")]
    NoSeed(String),
    #[error("bad address {addr}: {why}")]
    Address { addr: String, why: String },
}

/// What a request contends for: the owner that decides it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(OwnerKey);

impl Key {
    /// An extension of a tenant (validated as the API validates it).
    pub fn extension(tenant: &str, number: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::Extension(
            TenantId::parse("tenant", tenant)?,
            Extension::parse("extension", number)?,
        )))
    }

    /// A call group of a tenant, by its number.
    pub fn call_group(tenant: &str, number: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::CallGroup(
            TenantId::parse("tenant", tenant)?,
            Extension::parse("call_group", number)?,
        )))
    }

    /// A tenant's park lot: its park codes.
    pub fn park_lot(tenant: &str) -> Result<Key, Error> {
        Ok(Key(OwnerKey::ParkLot(TenantId::parse("tenant", tenant)?)))
    }
}

/// Where requests go, at one epoch of the shard map.
struct Routes {
    epoch: u64,
    /// `owners[shard]` is the owning node's id; empty before any map.
    owners: Vec<u64>,
    /// A connection to every member, by node id.
    members: HashMap<u64, Channel>,
    /// Every member's address: where to look again when the seeds are gone.
    addrs: Vec<String>,
    /// A connection for requests with no owner to aim at.
    any: Channel,
}

/// A shard-aware client; cheap to clone (every clone shares the routes).
#[derive(Clone)]
pub struct Client {
    seeds: Arc<Vec<String>>,
    routes: Arc<RwLock<Routes>>,
}

fn uri(addr: &str) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

/// How long connecting to a node may take before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a seed may take to answer `Cluster.Status`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

fn lazy(addr: &str) -> Result<Channel, Error> {
    Endpoint::from_shared(uri(addr))
        .map(|e| {
            e.tcp_nodelay(true)
                .connect_timeout(CONNECT_TIMEOUT)
                .connect_lazy()
        })
        .map_err(|e| Error::Address {
            addr: addr.to_owned(),
            why: e.to_string(),
        })
}

impl Client {
    /// Asks the first seed that answers for the members and the shard map.
    pub async fn connect(seeds: &[&str]) -> Result<Client, Error> {
        let seeds: Vec<String> = seeds.iter().map(|s| (*s).to_owned()).collect();
        let routes = Self::learn(&seeds).await?;
        Ok(Client {
            seeds: Arc::new(seeds),
            routes: Arc::new(RwLock::new(routes)),
        })
    }

    async fn learn(seeds: &[String]) -> Result<Routes, Error> {
        let mut last = String::from("no seeds given");
        for seed in seeds {
            let any = match lazy(seed) {
                Ok(channel) => channel,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let mut request = tonic::Request::new(StatusRequest {});
            request.set_timeout(STATUS_TIMEOUT);
            match ClusterClient::new(any.clone()).status(request).await {
                Ok(status) => {
                    let status = status.into_inner();
                    // A member whose address does not parse is left out: its
                    // keys go to any node, which forwards them.
                    let members = status
                        .membership
                        .iter()
                        .filter_map(|m| Some((m.node_id, lazy(&m.addr).ok()?)))
                        .collect::<HashMap<_, _>>();
                    let owners = if status.shard_owners.len() == SHARD_COUNT as usize {
                        status.shard_owners
                    } else {
                        Vec::new()
                    };
                    return Ok(Routes {
                        epoch: status.shard_epoch,
                        owners,
                        members,
                        addrs: status.membership.iter().map(|m| m.addr.clone()).collect(),
                        any,
                    });
                }
                Err(status) => last = format!("{seed}: {status}"),
            }
        }
        Err(Error::NoSeed(last))
    }

    /// Looks again (members and shard map); true if the map's epoch moved.
    pub async fn refresh(&self) -> Result<bool, Error> {
        let mut seeds = self.seeds.to_vec();
        seeds.extend(
            self.routes
                .read()
                .expect("routes lock")
                .addrs
                .iter()
                .cloned(),
        );
        let fresh = Self::learn(&seeds).await?;
        let mut routes = self.routes.write().expect("routes lock");
        // A node that has applied less of the log knows an older map: keep
        // the newer one.
        if fresh.epoch < routes.epoch {
            return Ok(false);
        }
        let moved = fresh.epoch != routes.epoch;
        *routes = fresh;
        Ok(moved)
    }

    /// Refreshes every `period` in the background for as long as any clone
    /// of this client lives.
    pub fn keep_fresh(&self, period: Duration) {
        let weak = Arc::downgrade(&self.routes);
        let seeds = self.seeds.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(routes) = weak.upgrade() else {
                    return;
                };
                let client = Client {
                    seeds: seeds.clone(),
                    routes,
                };
                if let Err(e) = client.refresh().await {
                    tracing::debug!(error = %e, "shard map not refreshed");
                }
            }
        });
    }

    /// The epoch of the shard map the client routes by.
    pub fn epoch(&self) -> u64 {
        self.routes.read().expect("routes lock").epoch
    }

    /// The node id that owns `key` by the client's map, if it knows one.
    pub fn owner(&self, key: &Key) -> Option<u64> {
        let routes = self.routes.read().expect("routes lock");
        routes.owners.get(key.0.shard() as usize).copied()
    }

    /// The owner's connection for a request about `key` (any node's when
    /// the owner is unknown).
    pub fn channel(&self, key: &Key) -> Channel {
        let routes = self.routes.read().expect("routes lock");
        routes
            .owners
            .get(key.0.shard() as usize)
            .and_then(|owner| routes.members.get(owner))
            .unwrap_or(&routes.any)
            .clone()
    }

    /// A connection for requests no owner decides (reads, the directory).
    pub fn any(&self) -> Channel {
        self.routes.read().expect("routes lock").any.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use callgrid_proto::retry::{REQUEST_ID, not_decided, outcome_unknown};

    use super::*;

    /// Sends through `under_one_id`, answering the attempts from `answers`
    /// in turn; returns the outcome and the request id each attempt carried.
    async fn run(answers: Vec<Result<u32, Status>>) -> (Result<u32, Status>, Vec<String>) {
        let answers = Mutex::new(answers.into_iter());
        let seen = Mutex::new(Vec::new());
        let outcome = under_one_id("pickup", "id-1", |request: Request<&str>| {
            let id = request
                .metadata()
                .get(REQUEST_ID)
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock()
                .unwrap()
                .push(id.expect("every attempt carries the id"));
            let answer = answers
                .lock()
                .unwrap()
                .next()
                .expect("no attempt past the answers");
            async move { answer.map(Response::new) }
        })
        .await;
        (outcome, seen.into_inner().unwrap())
    }

    #[tokio::test]
    async fn an_undecided_request_is_sent_again_under_the_same_id_until_it_is_answered() {
        let (outcome, ids) = run(vec![
            Err(outcome_unknown("not committed within 10s")),
            Err(not_decided("no leader")),
            Ok(7),
        ])
        .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(ids, ["id-1", "id-1", "id-1"]);
    }

    #[tokio::test]
    async fn a_decided_refusal_is_not_retried_and_retries_are_bounded() {
        let (outcome, ids) = run(vec![Err(Status::permission_denied("no"))]).await;
        assert_eq!(outcome.unwrap_err().code(), Code::PermissionDenied);
        assert_eq!(ids.len(), 1);
        let unknown = || Err(outcome_unknown("timed out"));
        let (outcome, ids) = run((0..ATTEMPTS).map(|_| unknown()).collect()).await;
        assert_eq!(outcome.unwrap_err().code(), Code::Unavailable);
        assert_eq!(ids.len(), ATTEMPTS as usize);
    }

    #[test]
    fn keys_are_validated_and_name_the_owner_the_node_hashes() {
        let key = Key::extension("acme", "102").unwrap();
        assert_eq!(key.0.to_string(), "acme/ext/102");
        assert_eq!(key.0.shard(), callgrid_model::shard_of("acme/ext/102"));
        assert_eq!(
            Key::park_lot("acme").unwrap().0.to_string(),
            "acme/park-lot"
        );
        let bad = Key::extension("acme", "1 2").unwrap_err();
        assert!(bad.to_string().contains("extension"), "{bad}");
    }
}

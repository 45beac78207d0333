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
//! **A secure cluster** (TLS, bearer tokens) is reached through
//! [`Client::builder`]: the CA that signed the nodes' certificates (and,
//! optionally, the one name every certificate is checked against), and the
//! token sent as `authorization: Bearer <token>` on every request. Every
//! member the client learns of is reached the same way: members advertise
//! `host:port`, which the client dials over `https` when it has TLS
//! settings, as nodes dial each other.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use callgrid_client::{Client, Key};
//! use callgrid_proto::v1::{ParkRequest, park_client::ParkClient};
//!
//! let client = Client::builder()
//!     .tls(std::fs::read("ca.crt")?, None)
//!     .token(std::env::var("CALLGRID_TOKEN")?)
//!     .connect(&["https://cg1.example.net:7700", "https://cg2.example.net:7700"])
//!     .await?;
//! let lot = client.channel(&Key::park_lot("acme")?);
//! let parked = ParkClient::new(lot)
//!     .park(ParkRequest {
//!         tenant: "acme".into(),
//!         call_id: 7,
//!         by: "101".into(),
//!         code: None,
//!     })
//!     .await?;
//! # let _ = parked;
//! # Ok(())
//! # }
//! ```
//!
//! `Cluster.Status` needs a cluster admin's token. A client whose token the
//! seed refuses it (a tenant admin's, an extension user's) still connects:
//! it knows no map, and every request goes to the seed, which forwards it,
//! one hop, as for a plain client.
//!
//! **Which key.** A claim is decided by the home of the call it would
//! take (its callee's extension, or the call group that owns the dialled
//! number) and a retrieve by the tenant's park lot, so that every racer for
//! one call meets the others in one place. A directed or BLF pickup: the
//! target extension. A group pickup, `*98` or `88<name>`: the picker's
//! extension. Park and retrieve: [`Key::park_lot`]. A dial: [`Key::dial`]
//! reads its digits as the node does. Answer and hang-up: the callee's
//! extension, or any node ([`Client::any`]). Where the cluster knows
//! better (the call rings through a call group, a group pickup takes a
//! call homed elsewhere), the node that gets the request forwards it, one
//! hop.
//!
//! **A stale map costs a hop, never an answer.** A node that receives a
//! request it does not own forwards it, so a request sent by an old map is
//! still decided by the owner. The client looks again on its own with
//! [`Client::refresh`] (call it after membership changes, or on a timer
//! with [`Client::keep_fresh`]); like a Redis Cluster client after a MOVED,
//! it then sends straight to the new owner. An owner that does not answer
//! at all may be a node that just died: [`Route`] sends a retry to any node
//! instead, which forwards it to the shard's new owner.
//!
//! A plain gRPC client (grpcurl, Python) needs none of this: it talks to
//! any node.
//!
//! **Retries.** [`under_one_id`] sends a request that changes something
//! under one request id, and again under the same id while the cluster
//! answers that it could not decide it or cannot say whether it took
//! effect: the cluster applies an id at most once and answers each retry
//! with the first outcome.
//!
//! The client decides nothing: it only chooses which node hears a request.

mod connection;
mod error;
mod key;
mod retry;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use callgrid_model::SHARD_COUNT;
use callgrid_proto::v1::{StatusRequest, cluster_client::ClusterClient};
use tonic::Code;

use connection::Settings;
pub use connection::{Builder, Connection};
pub use error::Error;
pub use key::Key;
pub use retry::{ATTEMPTS, Backoff, under_one_id, under_one_id_with};

/// How long a seed may take to answer `Cluster.Status`.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Where requests go, at one epoch of the shard map.
struct Routes {
    epoch: u64,
    /// `owners[shard]` is the owning node's id; empty before any map (or
    /// when the client may not read it).
    owners: Vec<u64>,
    /// A connection to every member, by node id.
    members: HashMap<u64, Connection>,
    /// Every member's address: where to look again when the seeds are gone.
    addrs: Vec<String>,
    /// A connection for requests with no owner to aim at: the seed that
    /// answered.
    any: Connection,
    /// The Raft leader the seed knew of, when it knew one.
    leader: Option<u64>,
}

/// What every clone of a client shares and never changes.
struct Setup {
    seeds: Vec<String>,
    settings: Settings,
}

/// A shard-aware client; cheap to clone (every clone shares the routes).
#[derive(Clone)]
pub struct Client {
    setup: Arc<Setup>,
    routes: Arc<RwLock<Routes>>,
}

/// Where the attempts of one request go: the first to its key's owner,
/// any retry to any node. An owner that did not answer may be a node that
/// just died, and until the client refreshes its map it would send every
/// retry there; any node forwards a retry to the shard's new owner.
#[derive(Clone)]
pub struct Route {
    owner: Connection,
    any: Connection,
}

impl Route {
    /// The first attempt to `owner`, any retry to `any`.
    pub fn new(owner: Connection, any: Connection) -> Route {
        Route { owner, any }
    }

    /// The connection for attempt `attempt` (0 for the first send).
    pub fn attempt(&self, attempt: u32) -> Connection {
        if attempt == 0 {
            self.owner.clone()
        } else {
            self.any.clone()
        }
    }
}

impl Builder {
    /// Checks the settings and asks the first seed that answers for the
    /// members and the shard map (see [`Client::connect`]).
    pub async fn connect(self, seeds: &[&str]) -> Result<Client, Error> {
        Client::with_settings(self.settings()?, seeds).await
    }

    /// Checks the settings, and asks nothing yet: the client sends every
    /// request to the first seed until a [`refresh`](Client::refresh) (or
    /// [`keep_fresh`](Client::keep_fresh)) learns the map. For a client
    /// that may start before the cluster serves.
    pub fn connect_lazy(self, seeds: &[&str]) -> Result<Client, Error> {
        Client::lazy_with_settings(self.settings()?, seeds)
    }
}

impl Client {
    /// Asks the first seed that answers for the members and the shard map,
    /// over plaintext and without a token (see [`Client::builder`] for a
    /// secure cluster). A seed is `host:port` or a URI.
    pub async fn connect(seeds: &[&str]) -> Result<Client, Error> {
        Client::builder().connect(seeds).await
    }

    /// Settings for a cluster with TLS or bearer tokens.
    pub fn builder() -> Builder {
        Builder::default()
    }

    async fn with_settings(settings: Settings, seeds: &[&str]) -> Result<Client, Error> {
        let setup = Setup {
            seeds: seeds.iter().map(|s| (*s).to_owned()).collect(),
            settings,
        };
        let routes = learn(&setup.settings, &setup.seeds).await?;
        Ok(Client {
            setup: Arc::new(setup),
            routes: Arc::new(RwLock::new(routes)),
        })
    }

    fn lazy_with_settings(settings: Settings, seeds: &[&str]) -> Result<Client, Error> {
        let first = seeds
            .first()
            .ok_or_else(|| Error::NoSeed("no seeds given".into()))?;
        let routes = Routes {
            epoch: 0,
            owners: Vec::new(),
            members: HashMap::new(),
            addrs: Vec::new(),
            any: settings.connection(first)?,
            leader: None,
        };
        Ok(Client {
            setup: Arc::new(Setup {
                seeds: seeds.iter().map(|s| (*s).to_owned()).collect(),
                settings,
            }),
            routes: Arc::new(RwLock::new(routes)),
        })
    }

    /// Looks again (members and shard map); true if the map's epoch moved.
    pub async fn refresh(&self) -> Result<bool, Error> {
        let mut seeds = self.setup.seeds.clone();
        seeds.extend(
            self.routes
                .read()
                .expect("routes lock")
                .addrs
                .iter()
                .cloned(),
        );
        let fresh = learn(&self.setup.settings, &seeds).await?;
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

    /// Refreshes now and then every `period` in the background, for as
    /// long as any clone of this client lives.
    pub fn keep_fresh(&self, period: Duration) {
        let weak = Arc::downgrade(&self.routes);
        let setup = self.setup.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            loop {
                every.tick().await;
                let Some(routes) = weak.upgrade() else {
                    return;
                };
                let client = Client {
                    setup: setup.clone(),
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
        routes.owners.get(key.shard()).copied()
    }

    /// The owner's connection for a request about `key` (any node's when
    /// the owner is unknown).
    pub fn channel(&self, key: &Key) -> Connection {
        let routes = self.routes.read().expect("routes lock");
        routes
            .owners
            .get(key.shard())
            .and_then(|owner| routes.members.get(owner))
            .unwrap_or(&routes.any)
            .clone()
    }

    /// A connection for requests no owner decides (reads, the directory).
    pub fn any(&self) -> Connection {
        self.routes.read().expect("routes lock").any.clone()
    }

    /// The connection to the Raft leader as of the last look (any node's
    /// when no leader was known): for writes that no owner decides, such as
    /// `Cluster.Noop`, which any other node would forward to the leader and
    /// then wait to apply itself. After a change of leader, a stale choice
    /// costs the hop it would have saved until [`refresh`](Self::refresh).
    pub fn leader(&self) -> Connection {
        let routes = self.routes.read().expect("routes lock");
        routes
            .leader
            .and_then(|leader| routes.members.get(&leader))
            .unwrap_or(&routes.any)
            .clone()
    }

    /// Where the attempts of a request about `key` go ([`Route`]); with no
    /// key, every attempt goes to any node.
    pub fn route(&self, key: Option<&Key>) -> Route {
        let any = self.any();
        Route {
            owner: key.map_or_else(|| any.clone(), |key| self.channel(key)),
            any,
        }
    }
}

/// Asks the seeds in turn for the members and the shard map.
async fn learn(settings: &Settings, seeds: &[String]) -> Result<Routes, Error> {
    let mut last = String::from("no seeds given");
    for seed in seeds {
        let any = match settings.connection(seed) {
            Ok(connection) => connection,
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
                    .filter_map(|m| Some((m.node_id, settings.connection(&m.addr).ok()?)))
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
                    leader: status.leader_id,
                });
            }
            // The seed answers, but not with the map (it is the cluster
            // admin's to read): route everything through it, as a plain
            // client would, and let it forward.
            Err(refused)
                if matches!(
                    refused.code(),
                    Code::PermissionDenied | Code::Unauthenticated
                ) =>
            {
                tracing::debug!(%seed, status = %refused, "no shard map for this token; every request goes to the seed");
                return Ok(Routes {
                    epoch: 0,
                    owners: Vec::new(),
                    members: HashMap::new(),
                    addrs: Vec::new(),
                    any,
                    leader: None,
                });
            }
            Err(status) => last = format!("{seed}: {status}"),
        }
    }
    Err(Error::NoSeed(last))
}

//! What open presence streams may hold: a budget per client and per node.
//!
//! A stream (`WatchLamps`, `Notifications`) lives as long as its client
//! keeps it, and the node holds its state and fans events out to it all
//! that time, so streams are counted where they open and released where
//! they end:
//!
//! - per client (a bearer token, or a source address in development mode),
//!   at most `--max-streams-per-client` streams: one client cannot take
//!   every stream the node can serve;
//! - per node, at most `--max-watched-lamps` lamps across every open watch:
//!   a bound on the memory of all watches together, whoever holds them.
//!
//! Opening a stream takes an [`OpenStream`], its share of both; dropping it
//! (the stream ended, the client went away) gives the share back. The
//! gauges `callgrid_streams_open` and `callgrid_stream_lamps_watched` show
//! what is taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::Status;

use crate::auth::Client;

/// The limits of a [`StreamBudget`].
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Streams one client may hold open (`--max-streams-per-client`).
    pub per_client: usize,
    /// Lamps watched across all streams of the node (`--max-watched-lamps`).
    pub watched_lamps: usize,
}

/// What open streams hold, node-wide.
#[derive(Clone)]
pub struct StreamBudget {
    limits: StreamLimits,
    taken: Arc<Mutex<Taken>>,
}

#[derive(Default)]
struct Taken {
    per_client: HashMap<Client, usize>,
    streams: usize,
    lamps: usize,
}

impl Taken {
    /// Publishes the totals; called under the lock, so the gauges move in
    /// the order the budget did.
    fn publish(&self) {
        metrics::gauge!("callgrid_streams_open").set(self.streams as f64);
        metrics::gauge!("callgrid_stream_lamps_watched").set(self.lamps as f64);
    }
}

/// Why a stream was not opened; the status says which limit and how to
/// raise it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamRefused {
    #[error(
        "this client already holds {limit} open streams (WatchLamps and Notifications \
         together), the most max_streams_per_client allows: close one, or raise \
         --max-streams-per-client (config key max_streams_per_client)"
    )]
    ClientStreams { limit: usize },
    #[error(
        "this node already watches {watched} lamps across its open streams; {asked} more \
         would pass max_watched_lamps ({limit}): close watches, or raise \
         --max-watched-lamps (config key max_watched_lamps)"
    )]
    WatchedLamps {
        watched: usize,
        asked: usize,
        limit: usize,
    },
}

impl From<StreamRefused> for Status {
    fn from(refused: StreamRefused) -> Status {
        Status::resource_exhausted(refused.to_string())
    }
}

impl StreamBudget {
    pub fn new(limits: StreamLimits) -> Self {
        let budget = Self {
            limits,
            taken: Arc::default(),
        };
        budget.lock().publish();
        budget
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Taken> {
        // The counts stay consistent even if a holder panicked: every
        // update under the lock is a few integer steps.
        self.taken.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one stream of `client`'s and `lamps` lamps of the node's
    /// budget, until the returned share is dropped.
    pub fn open(&self, client: Client, lamps: usize) -> Result<OpenStream, StreamRefused> {
        let mut taken = self.lock();
        let held = taken.per_client.get(&client).copied().unwrap_or(0);
        if held >= self.limits.per_client {
            return Err(StreamRefused::ClientStreams {
                limit: self.limits.per_client,
            });
        }
        if taken.lamps + lamps > self.limits.watched_lamps {
            return Err(StreamRefused::WatchedLamps {
                watched: taken.lamps,
                asked: lamps,
                limit: self.limits.watched_lamps,
            });
        }
        taken.per_client.insert(client, held + 1);
        taken.streams += 1;
        taken.lamps += lamps;
        taken.publish();
        Ok(OpenStream {
            budget: self.clone(),
            client,
            lamps,
        })
    }
}

/// One open stream's share of the budget, given back on drop.
pub struct OpenStream {
    budget: StreamBudget,
    client: Client,
    lamps: usize,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut taken = self.budget.lock();
        if let Some(held) = taken.per_client.get_mut(&self.client) {
            *held -= 1;
            if *held == 0 {
                taken.per_client.remove(&self.client);
            }
        }
        taken.streams -= 1;
        taken.lamps -= self.lamps;
        taken.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_client: usize, watched_lamps: usize) -> StreamBudget {
        StreamBudget::new(StreamLimits {
            per_client,
            watched_lamps,
        })
    }

    fn address(last: u8) -> Client {
        Client::Address(std::net::Ipv4Addr::new(127, 0, 0, last).into())
    }

    #[test]
    fn a_client_at_its_cap_is_refused_while_others_are_served() {
        let b = budget(2, 100);
        let _one = b.open(Client::Token(0), 1).expect("first");
        let two = b.open(Client::Token(0), 1).expect("second");
        assert_eq!(
            b.open(Client::Token(0), 1).err(),
            Some(StreamRefused::ClientStreams { limit: 2 })
        );
        b.open(Client::Token(1), 1).expect("another token");
        b.open(address(2), 1).expect("another address");
        drop(two);
        b.open(Client::Token(0), 1)
            .expect("a closed stream frees its place");
    }

    #[test]
    fn watches_past_the_node_wide_lamp_budget_are_refused_until_one_ends() {
        let b = budget(10, 100);
        let sixty = b.open(address(1), 60).expect("60 of 100");
        assert_eq!(
            b.open(address(2), 41).err(),
            Some(StreamRefused::WatchedLamps {
                watched: 60,
                asked: 41,
                limit: 100
            })
        );
        let _forty = b.open(address(2), 40).expect("exactly the budget");
        b.open(address(3), 0)
            .expect("a notifications stream watches no lamp");
        drop(sixty);
        assert_eq!(b.lock().lamps, 40);
        assert_eq!(b.lock().streams, 1);
    }

    #[test]
    fn the_refusal_names_the_setting_that_raises_it() {
        let status = Status::from(StreamRefused::ClientStreams { limit: 3 });
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("--max-streams-per-client"));
        assert!(status.message().contains("3 open streams"));
    }
}

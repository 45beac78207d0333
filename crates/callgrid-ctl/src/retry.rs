//! Mutating requests carry a request id, and are retried with it.
//!
//! Every request that changes something is sent with a `request-id`
//! (`--request-id`, or one made up per run), and while the answer is
//! undecided — `UNAVAILABLE` or `DEADLINE_EXCEEDED`, whether "not decided"
//! or "outcome unknown" — it is sent again with the same id, up to
//! `--retries` times. The cluster answers a retry with the first outcome,
//! so retrying never adds a second effect. If the last answer is still
//! undecided, its message names the id, so a later run with
//! `--request-id` learns what became of the request.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use callgrid_client::{Backoff, Connection, Route, under_one_id_with};
use tonic::{Code, Status};

/// Request ids for one run, and how often to retry with them.
pub struct Retry {
    base: String,
    sent: AtomicU32,
    retries: u32,
}

impl Retry {
    /// Ids from `request_id` (else made up from the process and the
    /// clock); `retries` more attempts after the first.
    pub fn new(request_id: Option<String>, retries: u32) -> Self {
        let base = request_id.unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            format!("ctl-{}-{nanos:x}", std::process::id())
        });
        Self {
            base,
            sent: AtomicU32::new(0),
            retries,
        }
    }

    /// The id of the next mutating request of this run: the base id for
    /// the first, `<base>.2`, `<base>.3`, ... for any further one.
    fn next_id(&self) -> String {
        match self.sent.fetch_add(1, Ordering::Relaxed) {
            0 => self.base.clone(),
            n => format!("{}.{}", self.base, n + 1),
        }
    }

    /// Sends `message` through `send` under a new request id, retrying
    /// with the same id while the answer is undecided: the first attempt
    /// over `route`'s owner, a retry over any node ([`Route::attempt`]).
    pub async fn send<M, R, F, Fut>(
        &self,
        route: &Route,
        message: M,
        send: F,
    ) -> Result<tonic::Response<R>, Status>
    where
        M: Clone,
        F: Fn(Connection, tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let attempts = AtomicU32::new(0);
        let send = |request| {
            send(
                route.attempt(attempts.fetch_add(1, Ordering::Relaxed)),
                request,
            )
        };
        let id = self.next_id();
        let backoff = Backoff {
            attempts: self.retries.saturating_add(1),
            first_pause: Duration::from_millis(250),
            max_pause: Duration::from_secs(4),
        };
        match under_one_id_with(backoff, message, &id, send).await {
            Err(status) if undecided(&status) => Err(Status::with_metadata(
                status.code(),
                format!(
                    "{} [request id {id}: run again with --request-id {id} to learn the outcome]",
                    status.message()
                ),
                status.metadata().clone(),
            )),
            answered => answered.map(tonic::Response::new),
        }
    }
}

fn undecided(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A route to nowhere: `send` below answers every attempt itself.
    fn nowhere() -> Route {
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        Route::new(channel.clone().into(), channel.into())
    }

    #[tokio::test]
    async fn an_undecided_request_is_retried_with_the_same_id_until_answered() {
        let retry = Retry::new(Some("job-7".into()), 3);
        let seen = Mutex::new(Vec::new());
        let answer = retry
            .send(&nowhere(), (), |_, r: tonic::Request<()>| {
                let id = r
                    .metadata()
                    .get("request-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                let mut seen = seen.lock().unwrap();
                seen.push(id);
                let n = seen.len();
                async move {
                    if n < 3 {
                        Err(Status::unavailable(
                            "outcome unknown: retry with the same request_id",
                        ))
                    } else {
                        Ok(tonic::Response::new(n))
                    }
                }
            })
            .await
            .expect("answered on the third attempt");
        assert_eq!(*answer.get_ref(), 3);
        assert_eq!(*seen.lock().unwrap(), vec![Some("job-7".to_owned()); 3]);
        // The next request of the run has an id of its own.
        assert_eq!(retry.next_id(), "job-7.2");
    }

    #[tokio::test]
    async fn a_request_still_undecided_names_its_id_and_a_refusal_is_not_retried() {
        let retry = Retry::new(Some("job-8".into()), 1);
        let tries = AtomicU32::new(0);
        let e = retry
            .send(&nowhere(), (), |_, _r: tonic::Request<()>| {
                tries.fetch_add(1, Ordering::Relaxed);
                async {
                    Err::<tonic::Response<()>, _>(Status::unavailable("not decided: no leader"))
                }
            })
            .await
            .expect_err("still undecided");
        assert_eq!(tries.load(Ordering::Relaxed), 2);
        assert!(
            e.message().contains("--request-id job-8"),
            "{}",
            e.message()
        );

        let tries = AtomicU32::new(0);
        let e = retry
            .send(&nowhere(), (), |_, _r: tonic::Request<()>| {
                tries.fetch_add(1, Ordering::Relaxed);
                async { Err::<tonic::Response<()>, _>(Status::invalid_argument("digits: bad")) }
            })
            .await
            .expect_err("refused");
        assert_eq!(
            (tries.load(Ordering::Relaxed), e.code()),
            (1, Code::InvalidArgument)
        );
    }
}

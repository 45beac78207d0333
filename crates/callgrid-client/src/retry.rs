//! Sending a request that changes something under one request id, and
//! again under the same id while the cluster could not decide it.

use std::future::Future;
use std::time::Duration;

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
}

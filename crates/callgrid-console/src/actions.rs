//! What an attendant does from the page: pick up, answer, park, retrieve,
//! hang up, each as the extension the page acts as, each one public API request
//! with the page's token (so an extension user acts only as itself, as
//! over gRPC).
//!
//! Every action carries a request id: the page's (`Request-Id` header, one
//! per click, kept while the page asks again about the same click) or a
//! fresh one. While the cluster cannot decide (UNAVAILABLE), the console
//! sends it again under the same id a few times; the cluster applies an id
//! at most once and answers a retry with the first outcome, so a pickup
//! that timed out and then committed is reported as won. Still undecided,
//! the page is told so (503, `outcome_unknown` or `not_decided`) and may
//! ask again with the same id.
//!
//! Business outcomes (a lost race, an unknown code) are answers, not
//! errors: `{ok, result, ...}` with the outcome's name.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use callgrid_proto::retry::is_not_decided;
use callgrid_proto::v1;
use serde::{Deserialize, Serialize};
use tonic::{Code, Request, Response, Status};

use crate::Shared;
use crate::attendant::name_of;
use crate::guard::Refusal;
use crate::upstream::{Bearer, REQUEST_TIMEOUT};

/// The header carrying the page's id for one action.
pub const REQUEST_ID_HEADER: &str = "request-id";
/// Sends of one action before the page is told it is undecided.
#[cfg(test)]
const ATTEMPTS: u32 = callgrid_client::ATTEMPTS;

/// The page's request id, or a fresh one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("console-{:032x}", rand::random::<u128>()))
}

/// Sends `message` with the page's token under `id`, and again under the
/// same id while the answer is UNAVAILABLE (`callgrid_client::under_one_id`).
async fn decided<T, R, Fut>(
    bearer: &Bearer,
    id: &str,
    message: T,
    mut send: impl FnMut(Request<T>) -> Fut,
) -> Result<R, Refusal>
where
    T: Clone,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let answer = callgrid_client::under_one_id(message, id, |mut request| {
        bearer.authorize(&mut request);
        request.set_timeout(REQUEST_TIMEOUT);
        send(request)
    })
    .await;
    match answer {
        Ok(response) => Ok(response),
        Err(status) if status.code() == Code::Unavailable => {
            let code = if is_not_decided(&status) {
                "not_decided"
            } else {
                "outcome_unknown"
            };
            Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                status.message(),
            ))
        }
        Err(status) => Err(status.into()),
    }
}

/// A call id as the page sends it: a decimal string.
fn call_id(raw: &str) -> Result<u64, Refusal> {
    raw.parse().map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("call_id: expected a decimal call id, got {raw:?}"),
        )
    })
}

/// The answer to every action: whether it did what was asked, and the
/// outcome's name (`picked_up`, `already_answered`, ...).
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub ok: bool,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// `POST /api/tenants/{tenant}/pickup`: which pickup, by whom.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pickup {
    /// A click on a ringing lamp: BLF pickup of the call the lamp showed.
    Blf {
        picker: String,
        target: String,
        call_id: Option<String>,
    },
    Directed {
        picker: String,
        target: String,
    },
    /// `*98`.
    Group {
        picker: String,
    },
    /// `88<name>`.
    Named {
        picker: String,
        group: String,
    },
}

pub async fn pickup(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    bearer: Bearer,
    headers: HeaderMap,
    Json(action): Json<Pickup>,
) -> Result<Json<Outcome>, Refusal> {
    let id = request_id(&headers);
    let client = shared.upstream.pickup();
    let response = match action {
        Pickup::Blf {
            picker,
            target,
            call_id: call,
        } => {
            let message = v1::BlfPickupRequest {
                tenant,
                picker,
                target,
                call_id: call.as_deref().map(call_id).transpose()?,
            };
            decided(&bearer, &id, message, |r| {
                let mut c = client.clone();
                async move { c.blf_pickup(r).await }
            })
            .await?
        }
        Pickup::Directed { picker, target } => {
            let message = v1::DirectedPickupRequest {
                tenant,
                picker,
                target,
            };
            decided(&bearer, &id, message, |r| {
                let mut c = client.clone();
                async move { c.directed_pickup(r).await }
            })
            .await?
        }
        Pickup::Group { picker } => {
            let message = v1::GroupPickupRequest { tenant, picker };
            decided(&bearer, &id, message, |r| {
                let mut c = client.clone();
                async move { c.group_pickup(r).await }
            })
            .await?
        }
        Pickup::Named { picker, group } => {
            let message = v1::NamedPickupRequest {
                tenant,
                picker,
                group_name: group,
            };
            decided(&bearer, &id, message, |r| {
                let mut c = client.clone();
                async move { c.named_pickup(r).await }
            })
            .await?
        }
    };
    let result = v1::PickupResult::try_from(response.result).unwrap_or_default();
    let ok = result == v1::PickupResult::PickedUp;
    Ok(Json(Outcome {
        ok,
        result: name_of(Some(result.as_str_name()), "PICKUP_RESULT_"),
        call_id: ok.then(|| response.call_id.to_string()),
        code: None,
        from: ok.then_some(response.from),
    }))
}

/// `POST /api/tenants/{tenant}/park`.
#[derive(Debug, Deserialize)]
pub struct Park {
    pub by: String,
    pub call_id: String,
}

pub async fn park(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    bearer: Bearer,
    headers: HeaderMap,
    Json(Park { by, call_id: call }): Json<Park>,
) -> Result<Json<Outcome>, Refusal> {
    let message = v1::ParkRequest {
        tenant,
        call_id: call_id(&call)?,
        by,
        code: None,
    };
    let client = shared.upstream.park();
    let response = decided(&bearer, &request_id(&headers), message, |r| {
        let mut c = client.clone();
        async move { c.park(r).await }
    })
    .await?;
    let result = v1::ParkResult::try_from(response.result).unwrap_or_default();
    let ok = result == v1::ParkResult::Parked;
    Ok(Json(Outcome {
        ok,
        result: name_of(Some(result.as_str_name()), "PARK_RESULT_"),
        call_id: Some(call),
        code: ok.then_some(response.code),
        from: None,
    }))
}

/// `POST /api/tenants/{tenant}/retrieve`.
#[derive(Debug, Deserialize)]
pub struct Retrieve {
    pub by: String,
    pub code: u32,
}

pub async fn retrieve(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    bearer: Bearer,
    headers: HeaderMap,
    Json(Retrieve { by, code }): Json<Retrieve>,
) -> Result<Json<Outcome>, Refusal> {
    let message = v1::RetrieveRequest { tenant, by, code };
    let client = shared.upstream.park();
    let response = decided(&bearer, &request_id(&headers), message, |r| {
        let mut c = client.clone();
        async move { c.retrieve(r).await }
    })
    .await?;
    let result = v1::RetrieveResult::try_from(response.result).unwrap_or_default();
    let ok = result == v1::RetrieveResult::Retrieved;
    Ok(Json(Outcome {
        ok,
        result: name_of(Some(result.as_str_name()), "RETRIEVE_RESULT_"),
        call_id: ok.then(|| response.call_id.to_string()),
        code: Some(code),
        from: None,
    }))
}

/// `POST /api/tenants/{tenant}/answer`: the acting extension answers a call
/// alerting it (its own ringing lamp: a call to it, or a parked call
/// ringing back).
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub by: String,
    pub call_id: String,
}

pub async fn answer(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    bearer: Bearer,
    headers: HeaderMap,
    Json(Answer { by, call_id: call }): Json<Answer>,
) -> Result<Json<Outcome>, Refusal> {
    let message = v1::AnswerRequest {
        tenant,
        call_id: call_id(&call)?,
        by,
    };
    let client = shared.upstream.calls();
    let response = decided(&bearer, &request_id(&headers), message, |r| {
        let mut c = client.clone();
        async move { c.answer(r).await }
    })
    .await?;
    let result = v1::AnswerResult::try_from(response.result).unwrap_or_default();
    Ok(Json(Outcome {
        ok: result == v1::AnswerResult::Answered,
        result: name_of(Some(result.as_str_name()), "ANSWER_RESULT_"),
        call_id: Some(call),
        code: None,
        from: None,
    }))
}

/// `POST /api/tenants/{tenant}/hangup`: the acting extension ends its call.
#[derive(Debug, Deserialize)]
pub struct Hangup {
    pub by: String,
    pub call_id: String,
}

pub async fn hangup(
    State(shared): State<Shared>,
    Path(tenant): Path<String>,
    bearer: Bearer,
    headers: HeaderMap,
    Json(Hangup { by, call_id: call }): Json<Hangup>,
) -> Result<Json<Outcome>, Refusal> {
    let message = v1::HangupRequest {
        tenant,
        call_id: call_id(&call)?,
        by: Some(v1::Party {
            kind: Some(v1::party::Kind::Extension(by)),
        }),
    };
    let client = shared.upstream.calls();
    let response = decided(&bearer, &request_id(&headers), message, |r| {
        let mut c = client.clone();
        async move { c.hangup(r).await }
    })
    .await?;
    let result = v1::HangupResult::try_from(response.result).unwrap_or_default();
    Ok(Json(Outcome {
        ok: result == v1::HangupResult::Ended,
        result: name_of(Some(result.as_str_name()), "HANGUP_RESULT_"),
        call_id: Some(call),
        code: None,
        from: None,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use callgrid_proto::retry::{REQUEST_ID, not_decided, outcome_unknown};

    use super::*;

    /// Sends through `decided`, answering the attempts from `answers` in
    /// turn; returns the outcome and the request id and token each carried.
    async fn run(
        answers: Vec<Result<u32, Status>>,
    ) -> (Result<u32, Refusal>, Vec<(String, String)>) {
        let answers = Mutex::new(answers.into_iter());
        let seen = Mutex::new(Vec::new());
        let bearer = Bearer(Some("Bearer page-token".parse().expect("ascii")));
        let outcome = decided(&bearer, "page-1", "pickup", |request: Request<&str>| {
            let header = |key: &str| {
                request
                    .metadata()
                    .get(key)
                    .map(|v| v.to_str().expect("ascii").to_owned())
                    .unwrap_or_default()
            };
            seen.lock()
                .expect("lock")
                .push((header(REQUEST_ID), header("authorization")));
            let answer = answers
                .lock()
                .expect("lock")
                .next()
                .expect("no attempt past the answers");
            async move { answer.map(Response::new) }
        })
        .await;
        (outcome, seen.into_inner().expect("lock"))
    }

    #[tokio::test]
    async fn an_undecided_action_is_asked_again_under_the_pages_id_and_token() {
        let (outcome, seen) = run(vec![
            Err(outcome_unknown("not committed in time")),
            Err(not_decided("no leader")),
            Ok(7),
        ])
        .await;
        assert_eq!(outcome.expect("decided"), 7);
        assert_eq!(seen.len(), 3);
        for (id, token) in seen {
            assert_eq!(id, "page-1");
            assert_eq!(token, "Bearer page-token");
        }
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_a_still_undecided_action_says_so() {
        let (outcome, seen) = run(vec![Err(Status::permission_denied("not yours"))]).await;
        let refusal = outcome.expect_err("refused");
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert_eq!(seen.len(), 1);
        let unknown = || Err(outcome_unknown("timed out"));
        let (outcome, seen) = run((0..ATTEMPTS).map(|_| unknown()).collect()).await;
        let refusal = outcome.expect_err("undecided");
        assert_eq!(refusal.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal.code, "outcome_unknown");
        assert_eq!(seen.len(), ATTEMPTS as usize);
    }
}

//! What every HTTP request passes before a handler, and how refusals look.
//!
//! - **Who**: the page sends its bearer token in `Authorization` on every
//!   request (the page keeps it in the tab's session storage; there are no
//!   cookies, so a request another site makes carries no credentials). The
//!   console passes it to gRPC unchanged: the node decides.
//! - **Forgery**: a request that changes anything (POST) must carry the
//!   `X-Callgrid-Console` header and a JSON body. Neither can be sent by
//!   another origin without a CORS preflight, which the console never
//!   grants; an `Origin` that is not the console's own is refused too.
//! - **Rebinding**: a node without tokens lets any request through, so its
//!   console answers only requests addressed to an IP address or
//!   `localhost`; a page of another site cannot point its own name at it.
//! - **Framing and sniffing**: a strict content security policy (scripts
//!   and styles from the console itself only), no framing, no referrer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;

use crate::Shared;
use crate::upstream::Bearer;

/// The header every state-changing request must carry.
pub const CONSOLE_HEADER: &str = "x-callgrid-console";

/// Who a token is, as far as the page needs to know to choose its views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Identity {
    /// The node has no tokens: everything is allowed.
    Development,
    /// No token, or one the node does not know.
    Unknown,
    ClusterAdmin,
    TenantAdmin {
        tenant: String,
    },
    ExtensionUser {
        tenant: String,
        extension: String,
    },
}

/// Tells who a bearer token (the part after `Bearer `) is; given by the
/// node, from its token table.
pub type Identify = Arc<dyn Fn(Option<&str>) -> Identity + Send + Sync>;

/// A refusal or failure, as JSON the page shows: `{code, message}`.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<tonic::Status> for Refusal {
    /// The node's answer, kept: its code and its message (which names
    /// the field and rule).
    fn from(status: tonic::Status) -> Self {
        let (http, code) = match status.code() {
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "permission_denied"),
            Code::InvalidArgument => (StatusCode::BAD_REQUEST, "invalid_argument"),
            Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Code::FailedPrecondition => (StatusCode::CONFLICT, "failed_precondition"),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Code::DeadlineExceeded => (StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded"),
            _ => (StatusCode::BAD_GATEWAY, "internal"),
        };
        Refusal::new(http, code, status.message())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body = Json(Body {
            code: self.code,
            message: &self.message,
        });
        (self.status, body).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Bearer(None));
        };
        let value = value
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Refusal::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "authorization: expected `Bearer <token>`",
                )
            })?;
        Ok(Bearer(Some(value)))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn token_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// `GET /api/session`: who the page's token is (401 for none or an
/// unknown one, when the node has tokens).
pub async fn session(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    match (shared.identify)(token_of(&headers)) {
        Identity::Unknown => Refusal::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this node needs a bearer token: enter one of its tokens",
        )
        .into_response(),
        identity => Json(identity).into_response(),
    }
}

/// The host of a `Host` header or an origin's authority, without port.
fn host_name(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// A name no other site can make resolve to this console.
fn is_local_name(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
        || host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
}

/// Refuses what the module doc describes, then adds the security headers.
pub async fn screen(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    if let Err(refusal) = check(&shared, &request) {
        tracing::info!(method = %request.method(), path = request.uri().path(), reason = %refusal.message, "console request refused");
        return with_headers(refusal.into_response());
    }
    with_headers(next.run(request).await)
}

fn check(shared: &Shared, request: &Request) -> Result<(), Refusal> {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if shared.open && !is_local_name(host_name(host)) {
        return Err(Refusal::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "a node without tokens serves its console only at an IP address or localhost",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if authority != Some(host) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "requests from another origin are refused",
            ));
        }
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        if headers.get(CONSOLE_HEADER).is_none() {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                format!("a console action must carry the {CONSOLE_HEADER} header"),
            ));
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        if !json {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_argument",
                "a console action's body must be application/json",
            ));
        }
    }
    Ok(())
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_split_from_ports_and_ipv6_brackets() {
        assert_eq!(host_name("127.0.0.1:7780"), "127.0.0.1");
        assert_eq!(host_name("[::1]:7780"), "::1");
        assert_eq!(host_name("localhost"), "localhost");
    }

    #[test]
    fn only_addresses_and_localhost_are_names_no_site_can_rebind() {
        for local in ["127.0.0.1", "::1", "10.1.2.3", "localhost", "a.localhost"] {
            assert!(is_local_name(local), "{local}");
        }
        for remote in ["evil.example", "localhost.evil.example", ""] {
            assert!(!is_local_name(remote), "{remote}");
        }
    }
}

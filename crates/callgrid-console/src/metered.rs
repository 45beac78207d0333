//! What the console serves, for the node's metrics endpoint: each request
//! counted by route, method and status, and how long it took to answer
//! (for an event stream, until its headers: the stream itself stays open).
//!
//! The route is the pattern it matched (`/api/tenants/{tenant}/pickup`),
//! never the path, so no tenant's name becomes a label and a scan of
//! made-up paths adds one series (`unmatched`), not one per path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// The label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

/// Counts and times `request` (`callgrid_console_requests_total`,
/// `callgrid_console_request_duration_seconds`).
pub async fn measure(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        // Made-up methods would each be a series of their own.
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("callgrid_console_request_duration_seconds", "route" => route.clone())
        .record(started.elapsed());
    metrics::counter!(
        "callgrid_console_requests_total",
        "route" => route,
        "method" => method,
        "status" => status
    )
    .increment(1);
    response
}

//! The page: one HTML document for both views, its stylesheet and its
//! script, embedded in the binary so the console needs nothing from
//! anywhere else. The script draws from the JSON and event streams of
//! [`attendant`](crate::attendant) and [`operator`](crate::operator), and
//! only ever writes text into the page (never markup), so a display name
//! cannot inject anything.

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// `/`, `/attendant`, `/operator`: the script picks the view from the path.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("assets/index.html"))
}

pub async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/console.js"),
    )
}

pub async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/console.css"),
    )
}

//! The web UI: three static files compiled into the binary. The page talks to the same API with
//! the key its user types in, so it has no powers of its own.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

const INDEX: &str = include_str!("../assets/ui/index.html");
const SCRIPT: &str = include_str!("../assets/ui/app.js");
const STYLE: &str = include_str!("../assets/ui/app.css");

/// Scripts and styles from this origin only; no inline code, no other hosts.
const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; connect-src 'self'; form-action 'none'; base-uri 'none'; \
    frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(UI_CSP),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn root() -> Redirect {
    Redirect::to("/ui/")
}

pub async fn index() -> Response {
    asset(INDEX, "text/html; charset=utf-8")
}

pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

//! The one error type every route answers with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A refusal with a stable machine code. Its message is written for the API's users: it never
/// holds a stack trace, a server path or an internal error's text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for the `Retry-After` header of a 429 or 503 (1 when unset).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found_item(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id} not found"),
        )
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this API key is over its rate limit; retry in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required in `x-api-key` or `Authorization: Bearer`",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this API key's role may not use this route",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn no_face(which: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_face",
            format!("no face was found in {which}"),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details under this request id",
        )
    }

    /// The body for a response some layer produced without an [`ApiError`] (a timeout, a 405),
    /// so that every error a client sees has the same shape.
    pub(crate) fn for_bare_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::NOT_FOUND => ("not_found", "no such route"),
            s if s.is_server_error() => ("internal", "internal error"),
            _ => ("bad_request", "the request was refused"),
        };
        Self::new(status, code, message)
    }
}

impl From<facenet_core::Error> for ApiError {
    fn from(e: facenet_core::Error) -> Self {
        use facenet_core::Error as E;
        match &e {
            // The label is the upload's field name, so these messages name no server path.
            E::Decode { .. } | E::Io { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_image",
                e.to_string(),
            ),
            E::TooSmall { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string())
            }
            E::TooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.code(), e.to_string()),
            E::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string()),
            _ => {
                tracing::error!(error = %e, "pipeline failure");
                Self::internal()
            }
        }
    }
}

impl From<facenet_store::Error> for ApiError {
    fn from(e: facenet_store::Error) -> Self {
        use facenet_store::Error as E;
        match &e {
            E::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            E::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m.clone()),
            E::Invalid(m) => Self::bad_request("invalid_request", m.clone()),
            E::AuditBroken { .. } => {
                tracing::error!(error = %e, "audit chain broken");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "audit_broken",
                    e.to_string(),
                )
            }
            _ => {
                tracing::error!(error = %e, "store failure");
                Self::internal()
            }
        }
    }
}

/// Carried on an error response until the outermost layer adds the request id to the body.
#[derive(Debug, Clone)]
pub(crate) struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = error_body(self.status, self.code, &self.message, "");
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            let secs = self.retry_after.unwrap_or(1).max(1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(ErrorInfo {
            code: self.code,
            message: self.message,
        });
        res
    }
}

pub(crate) fn error_body(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = serde_json::json!({
        "error": { "code": code, "message": message, "request_id": request_id }
    });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_503_with_retry_after() {
        let res = ApiError::from(facenet_core::Error::Busy).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let info = res.extensions().get::<ErrorInfo>().map(|i| i.code);
        assert_eq!(info, Some("queue_full"));
    }

    #[test]
    fn internal_errors_hide_their_text() {
        let e = ApiError::from(facenet_core::Error::Runtime("/secret/path: boom".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("/secret"));
        let e = ApiError::unauthorized().into_response();
        assert_eq!(e.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}

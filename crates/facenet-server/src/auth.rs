//! API keys, roles and the one table that says which role may call which route.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// The store's roles: one definition for keys at rest and for the route table.
pub use facenet_store::Role;

/// Who made a request; handlers find it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's public id (never the secret), for logs and the audit trail.
    pub key_id: String,
    pub role: Role,
}

/// Turns a presented secret into a principal. The production implementation (hashed, revocable
/// keys) lives in the store; this crate only consumes the trait.
pub trait Authenticator: Send + Sync {
    /// `None` for an unknown or revoked key.
    fn authenticate(&self, secret: &str) -> Option<Principal>;
}

/// The production keys: hashed and revocable, in the service's store.
pub struct StoreKeys(pub std::sync::Arc<dyn facenet_store::Store>);

impl Authenticator for StoreKeys {
    fn authenticate(&self, secret: &str) -> Option<Principal> {
        match self.0.authenticate(secret) {
            Ok(key) => key.map(|k| Principal {
                key_id: k.id,
                role: k.role,
            }),
            Err(e) => {
                // A store failure must not let anyone in; it is logged for the operator.
                tracing::error!(error = %e, "key lookup failed");
                None
            }
        }
    }
}

/// Test and development keys held in memory, in plain text. Not for production: it has no
/// hashing, revocation or persistence. Key ids are `static-0`, `static-1`, … in input order.
pub struct StaticKeys {
    keys: Vec<(String, Principal)>,
}

impl StaticKeys {
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = (S, Role)>) -> Self {
        let keys = keys
            .into_iter()
            .enumerate()
            .map(|(i, (secret, role))| {
                let key_id = format!("static-{i}");
                (secret.into(), Principal { key_id, role })
            })
            .collect();
        StaticKeys { keys }
    }
}

impl Authenticator for StaticKeys {
    fn authenticate(&self, secret: &str) -> Option<Principal> {
        // Compare against every key in constant time so that timing says nothing about prefixes.
        let mut found = None;
        for (s, p) in &self.keys {
            if constant_time_eq(s.as_bytes(), secret.as_bytes()) {
                found = Some(p.clone());
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Who may call a route. Admin may call every route that is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed: probes and the API description.
    Public,
    /// A key with one of these roles, or an admin key.
    Roles(&'static [Role]),
}

use Access::{Public, Roles};
use Role::{Auditor, Client, Operator};

/// Every route and who may call it. A route missing here is refused to everyone (fail closed),
/// and a test checks that the router and this table agree.
pub const ROUTES: &[(Method, &str, Access)] = &[
    (Method::GET, "/healthz", Public),
    (Method::GET, "/readyz", Public),
    (Method::GET, "/openapi.json", Public),
    // The web UI's files; every call the page makes needs the key its user types in.
    (Method::GET, "/", Public),
    (Method::GET, "/ui/", Public),
    (Method::GET, "/ui/app.js", Public),
    (Method::GET, "/ui/app.css", Public),
    // Operations staff and auditors watch the service; request counts are not for clients.
    (Method::GET, "/metrics", Roles(&[Operator, Auditor])),
    (Method::POST, "/api/v1/detect", Roles(&[Client])),
    (Method::POST, "/api/v1/embed", Roles(&[Client])),
    (Method::POST, "/api/v1/verify", Roles(&[Client])),
    (Method::POST, "/api/v1/recognize", Roles(&[Client])),
    (Method::POST, "/api/v1/subjects", Roles(&[Operator])),
    (Method::GET, "/api/v1/subjects", Roles(&[Operator])),
    (Method::GET, "/api/v1/subjects/{id}", Roles(&[Operator])),
    (Method::PATCH, "/api/v1/subjects/{id}", Roles(&[Operator])),
    (Method::DELETE, "/api/v1/subjects/{id}", Roles(&[Operator])),
    (
        Method::POST,
        "/api/v1/subjects/{id}/faces",
        Roles(&[Operator]),
    ),
    (
        Method::GET,
        "/api/v1/subjects/{id}/faces",
        Roles(&[Operator]),
    ),
    (Method::DELETE, "/api/v1/faces/{id}", Roles(&[Operator])),
    // Keys are the admin's alone (an empty list: admin only).
    (Method::GET, "/api/v1/keys", Roles(&[])),
    (Method::POST, "/api/v1/keys", Roles(&[])),
    (Method::DELETE, "/api/v1/keys/{id}", Roles(&[])),
    (Method::GET, "/api/v1/audit", Roles(&[Auditor])),
    (Method::GET, "/api/v1/audit/verify", Roles(&[Auditor])),
];

/// The access rule for a matched route, if the table has one.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
}

/// Whether `role` may call a route with this access rule.
pub fn allows(access: Access, role: Role) -> bool {
    match access {
        Public => true,
        Roles(roles) => role == Role::Admin || roles.contains(&role),
    }
}

/// The presented secret: `x-api-key`, else `Authorization: Bearer`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key") {
        return v.to_str().ok().map(str::trim).filter(|s| !s.is_empty());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The route's path pattern, recorded on the response for metrics.
#[derive(Debug, Clone)]
pub(crate) struct RouteLabel(pub String);

/// The single authorization layer, run after routing so that it sees the matched pattern.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = matched.map(|m| m.as_str().to_owned()).unwrap_or_default();
    let label = RouteLabel(route.clone());
    let mut res = match check(&state, req.method(), &route, req.headers()) {
        Ok(principal) => {
            if let Some(p) = principal {
                tracing::Span::current().record("key_id", p.key_id.as_str());
                req.extensions_mut().insert(p);
            }
            next.run(req).await
        }
        Err(e) => {
            crate::drain(req, state.limits.max_body_bytes).await;
            e.into_response()
        }
    };
    res.extensions_mut().insert(label);
    res
}

fn check(
    state: &AppState,
    method: &Method,
    route: &str,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ApiError> {
    let Some(rule) = access(method, route) else {
        if ROUTES.iter().any(|(_, p, _)| *p == route) {
            return Err(ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {route}"),
            ));
        }
        tracing::error!(%method, route, "route missing from the role table; refusing");
        return Err(ApiError::forbidden());
    };
    if rule == Public {
        return Ok(None);
    }
    let principal = presented_key(headers)
        .and_then(|k| state.auth.authenticate(k))
        .ok_or_else(ApiError::unauthorized)?;
    if !allows(rule, principal.role) {
        return Err(ApiError::forbidden());
    }
    if let Some(limiter) = &state.rate {
        limiter
            .check(&principal.key_id)
            .map_err(ApiError::rate_limited)?;
    }
    Ok(Some(principal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(presented_key(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", "xyz".parse().unwrap());
        assert_eq!(presented_key(&h), Some("xyz"));
    }

    #[test]
    fn static_keys() {
        let k = StaticKeys::new([("a", Role::Client), ("b", Role::Admin)]);
        assert_eq!(k.authenticate("b").map(|p| p.role), Some(Role::Admin));
        assert_eq!(
            k.authenticate("a").map(|p| p.key_id),
            Some("static-0".into())
        );
        assert_eq!(k.authenticate("c"), None);
        assert_eq!(k.authenticate(""), None);
    }

    #[test]
    fn admin_everywhere_but_public_stays_public() {
        for (_, _, a) in ROUTES {
            assert!(allows(*a, Role::Admin));
        }
        assert!(allows(Public, Role::Auditor));
        assert!(!allows(Roles(&[Client]), Role::Operator));
    }
}

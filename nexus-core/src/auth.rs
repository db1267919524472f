//! The bearer-token guard and the access policy: one implementation for every Nexus router.
//!
//! ```
//! use nexus_core::auth::BearerToken;
//! let token = BearerToken::new("s3cret");
//! let mut headers = http::HeaderMap::new();
//! headers.insert(http::header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
//! assert!(token.verify_headers(&headers));
//! ```

use std::sync::Arc;

use subtle::ConstantTimeEq;

/// A configured bearer token. Cheap to clone; `Debug` never shows it.
#[derive(Clone)]
pub struct BearerToken(Arc<str>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl From<String> for BearerToken {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl From<&str> for BearerToken {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

impl BearerToken {
    /// The token `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Arc::from(secret.into()))
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`. The comparison takes
    /// the same time wherever the first difference is (`subtle`); only the length can show.
    pub fn verify(&self, authorization: Option<&str>) -> bool {
        authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(self.0.as_bytes())))
    }

    /// [`verify`](Self::verify) on a request's headers.
    pub fn verify_headers(&self, headers: &http::HeaderMap) -> bool {
        self.verify(
            headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// Whether `headers` pass `guard`: always when no token is configured.
    pub fn allows(guard: Option<&BearerToken>, headers: &http::HeaderMap) -> bool {
        guard.is_none_or(|t| t.verify_headers(headers))
    }
}

/// Who may use a router's guarded routes (those that change state, run expensive work or reveal
/// stored data). **Closed by default**: with neither a token nor an explicit opt-out, guarded
/// routes refuse with 403 and say how to enable them.
///
/// ```
/// use nexus_core::auth::{Access, BearerToken, Refusal};
/// let headers = http::HeaderMap::new();
/// assert_eq!(Access::default().check(&headers), Err(Refusal::NotConfigured));
/// assert_eq!(Access::Token(BearerToken::new("t")).check(&headers), Err(Refusal::BadToken));
/// assert_eq!(Access::Unauthenticated.check(&headers), Ok(()));
/// ```
#[derive(Debug, Clone, Default)]
pub enum Access {
    /// Guarded routes refuse (403): no token configured, no opt-out.
    #[default]
    Closed,
    /// Guarded routes need `Authorization: Bearer <token>` (401 otherwise).
    Token(BearerToken),
    /// Guarded routes are open to anyone: only for a trusted network, chosen explicitly.
    Unauthenticated,
}

/// Why a guarded route refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Neither a token nor an opt-out is configured (403).
    NotConfigured,
    /// The request lacks the configured token (401).
    BadToken,
}

impl Refusal {
    /// The HTTP status: 403 or 401.
    pub fn status(self) -> http::StatusCode {
        match self {
            Refusal::NotConfigured => http::StatusCode::FORBIDDEN,
            Refusal::BadToken => http::StatusCode::UNAUTHORIZED,
        }
    }

    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NotConfigured => {
                "this route is disabled: configure a bearer token (or allow_unauthenticated() on a trusted network)"
            }
            Refusal::BadToken => "a valid bearer token is required",
        }
    }
}

impl From<BearerToken> for Access {
    fn from(t: BearerToken) -> Self {
        Access::Token(t)
    }
}

impl Access {
    /// Whether a request with `headers` may use a guarded route.
    pub fn check(&self, headers: &http::HeaderMap) -> Result<(), Refusal> {
        match self {
            Access::Closed => Err(Refusal::NotConfigured),
            Access::Token(t) if t.verify_headers(headers) => Ok(()),
            Access::Token(_) => Err(Refusal::BadToken),
            Access::Unauthenticated => Ok(()),
        }
    }

    /// Logs, once, at start, what the guarded routes of `router` accept: a warning when they
    /// are open to anyone or disabled.
    pub fn log_at_start(&self, router: &str) {
        match self {
            Access::Closed => tracing::warn!(
                router,
                "guarded routes disabled: no bearer token configured (call bearer_token(…), or allow_unauthenticated() on a trusted network)"
            ),
            Access::Token(_) => tracing::info!(router, "guarded routes need the bearer token"),
            Access::Unauthenticated => tracing::warn!(
                router,
                "guarded routes are open to anyone: allow_unauthenticated() was chosen"
            ),
        }
    }
}

/// The guard as a tower layer (feature `http`): requests without the token get a JSON 401 and
/// never reach the inner service.
///
/// ```
/// use axum::{Router, routing::post};
/// use nexus_core::auth::BearerToken;
/// let admin: Router = Router::new()
///     .route("/purge", post(|| async { "done" }))
///     .route_layer(BearerToken::new("s3cret").layer());
/// # let _ = admin;
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl BearerToken {
    /// `tower-http`'s request validation with this token.
    pub fn layer(&self) -> tower_http::validate_request::ValidateRequestHeaderLayer<RequireBearer> {
        tower_http::validate_request::ValidateRequestHeaderLayer::custom(RequireBearer(
            self.clone(),
        ))
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Access {
    /// `tower-http`'s request validation with this policy: a JSON 403 or 401 on refusal.
    pub fn layer(&self) -> tower_http::validate_request::ValidateRequestHeaderLayer<RequireAccess> {
        tower_http::validate_request::ValidateRequestHeaderLayer::custom(RequireAccess(
            self.clone(),
        ))
    }

    /// The JSON refusal for `headers`, if any (for handlers that check inside).
    pub fn refuse(&self, headers: &http::HeaderMap) -> Option<axum::response::Response> {
        self.check(headers)
            .err()
            .map(|r| crate::json::error(r.status(), r.message()))
    }
}

/// The validator behind [`Access::layer`].
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Debug, Clone)]
pub struct RequireAccess(Access);

#[cfg(feature = "http")]
impl<B> tower_http::validate_request::ValidateRequest<B> for RequireAccess {
    type ResponseBody = axum::body::Body;

    fn validate(
        &mut self,
        request: &mut http::Request<B>,
    ) -> Result<(), http::Response<Self::ResponseBody>> {
        self.0
            .check(request.headers())
            .map_err(|r| crate::json::error(r.status(), r.message()))
    }
}

/// The validator behind [`BearerToken::layer`].
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
#[derive(Debug, Clone)]
pub struct RequireBearer(BearerToken);

#[cfg(feature = "http")]
impl<B> tower_http::validate_request::ValidateRequest<B> for RequireBearer {
    type ResponseBody = axum::body::Body;

    fn validate(
        &mut self,
        request: &mut http::Request<B>,
    ) -> Result<(), http::Response<Self::ResponseBody>> {
        if self.0.verify_headers(request.headers()) {
            Ok(())
        } else {
            Err(crate::json::error(
                http::StatusCode::UNAUTHORIZED,
                "a valid bearer token is required",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        let t = BearerToken::new("abc");
        assert!(t.verify(Some("Bearer abc")));
        for bad in [
            None,
            Some(""),
            Some("abc"),
            Some("Bearer ab"),
            Some("Bearer abcd"),
            Some("bearer abc"),
            Some("Bearer  abc"),
            Some("Basic abc"),
        ] {
            assert!(!t.verify(bad), "{bad:?}");
        }
        assert!(BearerToken::allows(None, &http::HeaderMap::new()));
        assert!(!BearerToken::allows(Some(&t), &http::HeaderMap::new()));
    }
}

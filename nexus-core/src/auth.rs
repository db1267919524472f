//! The bearer-token guard: one implementation for every Nexus router.
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

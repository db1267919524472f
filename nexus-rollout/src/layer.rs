//! [`RolloutLayer`] → [`RolloutService`]: routes each request to stable or the candidate by the
//! rollout's weight, records what each answers, and copies requests to the candidate during a
//! shadow pre-check.

use crate::builder::Stickiness;
use crate::rollout::{Rollout, Version};
use crate::state::FULL;
use crate::stats::Stripe;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::sync::oneshot;
use tower::{Layer, Service};

/// How long a shadow copy may take before it counts as failed.
const SHADOW_TIMEOUT: Duration = Duration::from_secs(30);

/// The header a shadow copy carries, so the candidate can skip side effects.
pub const SHADOW_HEADER: &str = "x-rollout-shadow";

/// A 64-bit hash of `bytes`, eight at a time (little-endian words, multiply-rotate), finished
/// with MurmurHash3's 64-bit mix: fixed across processes, platforms and releases, so every
/// instance of a fleet sends a user to the same version.
pub(crate) fn hash(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
        })
        .filter(|v| !v.is_empty())
}

impl Rollout {
    /// Which version should answer a request with these headers: by the sticky header or
    /// cookie if configured and present (a user keeps their version as the weight grows), at
    /// random by the weight otherwise.
    #[inline]
    pub fn pick(&self, headers: Option<&HeaderMap>) -> Version {
        let w = self.weight_bp();
        if w == 0 {
            return Version::Stable;
        }
        if w >= FULL {
            return Version::Candidate;
        }
        let i = &self.inner;
        let key = match (&i.stickiness, headers) {
            (Stickiness::Header(h), Some(hs)) => hs.get(h).map(|v| v.as_bytes()),
            (Stickiness::Cookie(c), Some(hs)) => cookie(hs, c),
            _ => None,
        };
        let bucket = match key {
            Some(k) => (hash(i.seed, k) % FULL as u64) as u32,
            None => fastrand::u32(..FULL),
        };
        if bucket < w {
            Version::Candidate
        } else {
            Version::Stable
        }
    }

    /// The layer that routes between the service it wraps (stable) and `candidate`.
    pub fn layer<C>(&self, candidate: C) -> RolloutLayer<C> {
        RolloutLayer {
            rollout: self.clone(),
            candidate,
        }
    }
}

/// Wraps the stable service; see [`Rollout::layer`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{Layer, Service, ServiceExt, service_fn};
/// use nexus_rollout::{Rollout, Strategy};
/// let stable = service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new("v1")) });
/// let candidate = service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new("v2")) });
/// let rollout = Rollout::builder("docs").strategy(Strategy::canary([50.0, 100.0]).unwrap()).build().unwrap();
/// let mut svc = rollout.layer(candidate).layer(stable);
/// let mut v2 = 0;
/// for _ in 0..1_000 {
///     let resp = svc.ready().await.unwrap().call(Request::new(String::new())).await.unwrap();
///     v2 += (*resp.body() == "v2") as u32;
/// }
/// assert!((400..600).contains(&v2), "{v2}");
/// assert_eq!(rollout.status().candidate.requests as u32, v2);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct RolloutLayer<C> {
    rollout: Rollout,
    candidate: C,
}

impl<S, C: Clone> Layer<S> for RolloutLayer<C> {
    type Service = RolloutService<S, C>;

    fn layer(&self, stable: S) -> Self::Service {
        RolloutService {
            stable,
            candidate: self.candidate.clone(),
            rollout: self.rollout.clone(),
        }
    }
}

/// The service produced by [`RolloutLayer`]. Ready when both versions are ready. A request
/// fails (for the judge) when the service errs or answers 5xx.
///
/// Shadow copies (during a pre-check step) are made of requests without a body: same method,
/// URI and headers plus `x-rollout-shadow: 1`, sent to the candidate in a spawned task, at most
/// [`shadow_limit`](crate::RolloutBuilder::shadow_limit) at a time, each given 30 s; their
/// answers are recorded for the candidate and their status compared with stable's. To build
/// the copies the request body type implements `Default` (axum's `Body`, `String`, `Full` do;
/// map hyper's `Incoming` to axum's `Body` first).
#[derive(Debug, Clone)]
pub struct RolloutService<S, C> {
    stable: S,
    candidate: C,
    rollout: Rollout,
}

impl<S, C, B, ResB> Service<Request<B>> for RolloutService<S, C>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    C: Service<Request<B>, Response = Response<ResB>, Error = S::Error> + Clone + Send + 'static,
    C::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body + Default + Send + 'static,
    ResB: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let stable = self.stable.poll_ready(cx)?;
        let candidate = self.candidate.poll_ready(cx)?;
        if stable.is_ready() && candidate.is_ready() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let version = self.rollout.pick(Some(req.headers()));
        let shadow =
            if version == Version::Stable && self.rollout.inner.shadow_on.load(Ordering::Relaxed) {
                self.shadow(&req)
            } else {
                None
            };
        let start = quanta::Instant::now();
        let inner = match version {
            Version::Stable => Either::Stable {
                f: self.stable.call(req),
            },
            Version::Candidate => Either::Candidate {
                f: self.candidate.call(req),
            },
        };
        ResponseFuture {
            inner,
            stripe: Some(self.rollout.inner.stats.stripe().clone()),
            version,
            start,
            shadow,
        }
    }
}

impl<S, C> RolloutService<S, C> {
    /// Sends a copy of `req` to the candidate; returns where to send stable's status.
    fn shadow<B, ResB, E>(&self, req: &Request<B>) -> Option<oneshot::Sender<Option<u16>>>
    where
        C: Service<Request<B>, Response = Response<ResB>, Error = E> + Clone + Send + 'static,
        C::Future: Send + 'static,
        E: Send + 'static,
        B: Body + Default + Send + 'static,
        ResB: Send + 'static,
    {
        let sh = &self.rollout.inner.shadow;
        let bodiless = req.body().is_end_stream() || req.body().size_hint().exact() == Some(0);
        let handle = tokio::runtime::Handle::try_current().ok();
        let (Some(handle), true) = (handle, bodiless) else {
            sh.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        if sh.in_flight.fetch_add(1, Ordering::Relaxed) >= sh.limit {
            sh.in_flight.fetch_sub(1, Ordering::Relaxed);
            sh.skipped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut copy = Request::new(B::default());
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        copy.headers_mut()
            .insert(SHADOW_HEADER, http::HeaderValue::from_static("1"));
        let (tx, rx) = oneshot::channel();
        let mut candidate = self.candidate.clone();
        let rollout = self.rollout.clone();
        handle.spawn(async move {
            let _slot = Slot(&rollout);
            let start = quanta::Instant::now();
            let answer = tokio::time::timeout(SHADOW_TIMEOUT, async {
                std::future::poll_fn(|cx| candidate.poll_ready(cx)).await?;
                candidate.call(copy).await
            })
            .await;
            let status = match answer {
                Ok(Ok(resp)) => Some(resp.status().as_u16()),
                _ => None,
            };
            rollout.record(
                Version::Candidate,
                start.elapsed(),
                status.is_none_or(|s| s >= 500),
            );
            let sh = &rollout.inner.shadow;
            sh.copied.fetch_add(1, Ordering::Relaxed);
            if let Ok(stable) = rx.await {
                sh.compared.fetch_add(1, Ordering::Relaxed);
                if stable != status {
                    sh.mismatched.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Some(tx)
    }
}

/// Frees a shadow slot when the copy ends.
struct Slot<'a>(&'a Rollout);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0
            .inner
            .shadow
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    #[project = EitherProj]
    enum Either<FS, FC> {
        Stable { #[pin] f: FS },
        Candidate { #[pin] f: FC },
    }
}

pin_project_lite::pin_project! {
    /// Response future of [`RolloutService`]: records the answer for its version.
    pub struct ResponseFuture<FS, FC> {
        #[pin]
        inner: Either<FS, FC>,
        stripe: Option<Arc<Stripe>>,
        version: Version,
        start: quanta::Instant,
        shadow: Option<oneshot::Sender<Option<u16>>>,
    }
}

impl<FS, FC> std::fmt::Debug for ResponseFuture<FS, FC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<FS, FC, ResB, E> Future for ResponseFuture<FS, FC>
where
    FS: Future<Output = Result<Response<ResB>, E>>,
    FC: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResB>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.project() {
            EitherProj::Stable { f } => ready!(f.poll(cx)),
            EitherProj::Candidate { f } => ready!(f.poll(cx)),
        };
        if let Some(stripe) = this.stripe.take() {
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            let ns = u64::try_from(this.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            stripe.0[*this.version as usize].record(ns, status.is_none_or(|s| s >= 500));
            if let Some(tx) = this.shadow.take() {
                let _ = tx.send(status);
            }
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fixed_and_spread() {
        // Fixed across processes, platforms and releases: a fleet must agree.
        assert_eq!(hash(0, b"user-1"), hash(0, b"user-1"));
        assert_eq!(hash(0, b"user-12345"), 0xe9fb_0c4f_00a6_7149);
        assert_ne!(hash(0, b"user-1"), hash(1, b"user-1"));
        let mut counts = [0u32; 10];
        for u in 0..100_000u32 {
            counts[(hash(7, format!("user-{u}").as_bytes()) % 10) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; uid=abc ;b=2".parse().unwrap());
        assert_eq!(cookie(&h, "uid"), Some(&b"abc"[..]));
        assert_eq!(cookie(&h, "b"), Some(&b"2"[..]));
        assert_eq!(cookie(&h, "none"), None);
        h.insert(http::header::COOKIE, "uid=".parse().unwrap());
        assert_eq!(cookie(&h, "uid"), None);
    }
}

//! Dependency probes: the `Probe` trait and the Postgres, Redis, HTTP and closure probes.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;

/// One check of one dependency. Implementations do the I/O; timeouts, timing and caching are the
/// runner's ([`Probes`](crate::Probes)). Return `Err` with a message a human can act on.
#[async_trait]
pub trait Probe: fmt::Debug + Send + Sync + 'static {
    /// Runs the check once.
    async fn check(&self) -> Result<(), String>;

    /// The health+json `componentType` (`datastore`, `component`, `system`).
    fn component_type(&self) -> &'static str {
        "component"
    }
}

/// Outcome of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProbeStatus {
    /// The dependency answered.
    Pass,
    /// It failed or timed out.
    Fail,
    /// Not checked yet.
    Unknown,
}

impl ProbeStatus {
    /// `pass`, `fail` or `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeStatus::Pass => "pass",
            ProbeStatus::Fail => "fail",
            ProbeStatus::Unknown => "unknown",
        }
    }
}

/// The latest result of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProbeResult {
    /// Probe name (`postgres`, `redis`, …).
    pub name: String,
    /// Outcome.
    pub status: ProbeStatus,
    /// Whether a failure makes the service unhealthy / not ready.
    pub critical: bool,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// health+json component type.
    pub component_type: &'static str,
    /// How long the check took, milliseconds.
    pub duration_ms: f64,
    /// Failure message.
    pub message: Option<String>,
    /// When it was checked (`None` before the first check).
    #[serde(with = "rfc3339_opt")]
    pub checked_at: Option<SystemTime>,
}

impl ProbeResult {
    /// A result not produced by a probe (tests, aggregated checks).
    pub fn synthetic(name: &str, critical: bool, status: ProbeStatus) -> Self {
        Self {
            name: name.into(),
            status,
            critical,
            tags: Vec::new(),
            component_type: "component",
            duration_ms: 0.0,
            message: (status != ProbeStatus::Pass).then(|| "synthetic".into()),
            checked_at: None,
        }
    }
}

pub(crate) mod rfc3339_opt {
    use std::time::SystemTime;

    pub(crate) fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&nexus_core::time::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }
}

/// A probe from an async closure.
///
/// ```
/// use nexus_health::{FnProbe, Probe};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let disk = FnProbe::new(|| async { Ok(()) });
/// assert!(disk.check().await.is_ok());
/// # }
/// ```
pub struct FnProbe<F> {
    f: F,
}

impl<F> FnProbe<F> {
    /// Wraps `f`, called once per check.
    pub fn new<Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self { f }
    }
}

impl<F> fmt::Debug for FnProbe<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnProbe")
    }
}

#[async_trait]
impl<F, Fut> Probe for FnProbe<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    async fn check(&self) -> Result<(), String> {
        (self.f)().await
    }
}

/// `SELECT 1` on a sqlx pool (feature `postgres`).
#[cfg(feature = "postgres")]
#[derive(Debug, Clone)]
pub struct PostgresProbe {
    pool: sqlx::PgPool,
}

#[cfg(feature = "postgres")]
impl PostgresProbe {
    /// Probes through `pool` (a connection is borrowed for each check).
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool }
    }
}

#[cfg(feature = "postgres")]
#[async_trait]
impl Probe for PostgresProbe {
    async fn check(&self) -> Result<(), String> {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| e.to_string())?;
        if one == 1 {
            Ok(())
        } else {
            Err(format!("SELECT 1 returned {one}"))
        }
    }

    fn component_type(&self) -> &'static str {
        "datastore"
    }
}

/// `PING` over a fresh connection each check (feature `redis`), so a reconnecting client cannot
/// hide an outage.
#[cfg(feature = "redis")]
#[derive(Debug, Clone)]
pub struct RedisProbe {
    client: redis::Client,
}

#[cfg(feature = "redis")]
impl RedisProbe {
    /// Probes the server at `url`; fails on a malformed URL.
    pub fn new(url: &str) -> Result<Self, String> {
        redis::Client::open(url)
            .map(|client| Self { client })
            .map_err(|e| e.to_string())
    }
}

#[cfg(feature = "redis")]
#[async_trait]
impl Probe for RedisProbe {
    async fn check(&self) -> Result<(), String> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(format!("PING answered {pong:?}"))
        }
    }

    fn component_type(&self) -> &'static str {
        "datastore"
    }
}

/// Probe timeouts default to this.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

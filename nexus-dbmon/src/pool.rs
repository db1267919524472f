//! Client-side pool health: the `PoolObserver` seam, for sqlx and bb8 pools.
//!
//! Sizes come from the pool; acquire wait times come from wrapping acquisition
//! ([`ObservedPgPool::acquire`], [`ObservedBb8::get`]) into a fixed-bucket histogram. **Pool
//! efficiency** (the spec's figure, target > 95 %) is the share of acquisitions served within
//! `slow_acquire` (default 10 ms) without timing out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nexus_core::histogram::Histogram;
use serde::Serialize;

/// Acquisition figures shared by the observed pools.
#[derive(Debug)]
struct AcquireStats {
    wait: Histogram,
    timeouts: AtomicU64,
    slow: AtomicU64,
    slow_acquire: Duration,
}

impl AcquireStats {
    fn new(slow_acquire: Duration) -> Self {
        Self {
            wait: Histogram::new(),
            timeouts: AtomicU64::new(0),
            slow: AtomicU64::new(0),
            slow_acquire,
        }
    }

    fn record(&self, waited: Duration, timed_out: bool) {
        self.wait.record_duration(waited);
        if timed_out {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        } else if waited > self.slow_acquire {
            self.slow.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn summary(&self) -> (u64, u64, u64, AcquireWait) {
        let c = self.wait.counts();
        let n = c.count();
        let wait = AcquireWait {
            mean_ms: c.mean() * 1e3,
            p50_ms: c.quantile(0.5) * 1e3,
            p95_ms: c.quantile(0.95) * 1e3,
            p99_ms: c.quantile(0.99) * 1e3,
        };
        (
            n,
            self.slow.load(Ordering::Relaxed),
            self.timeouts.load(Ordering::Relaxed),
            wait,
        )
    }
}

/// Acquire wait times (interpolated in [`nexus_core::histogram`] buckets: within ±25 % of the truth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AcquireWait {
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// A pool's state and acquisition figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PoolStatus {
    /// `sqlx` or `bb8`.
    pub kind: &'static str,
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: u32,
    /// Connections checked out.
    pub in_use: u32,
    /// Maximum size.
    pub max: u32,
    /// `in_use / max`.
    pub utilization: f64,
    /// Acquisitions observed.
    pub acquires: u64,
    /// Acquisitions slower than `slow_acquire`.
    pub slow_acquires: u64,
    /// Acquisitions that timed out.
    pub timeouts: u64,
    /// Wait times.
    pub wait: AcquireWait,
    /// Share of acquisitions served in time (1 with none observed).
    pub efficiency: f64,
}

/// Anything that can report a [`PoolStatus`].
pub trait PoolObserver: Send + Sync + 'static {
    /// The status now.
    fn status(&self) -> PoolStatus;
}

fn status(kind: &'static str, size: u32, idle: u32, max: u32, stats: &AcquireStats) -> PoolStatus {
    let (acquires, slow, timeouts, wait) = stats.summary();
    let in_use = size.saturating_sub(idle);
    PoolStatus {
        kind,
        size,
        idle,
        in_use,
        max,
        utilization: if max == 0 {
            0.0
        } else {
            f64::from(in_use) / f64::from(max)
        },
        acquires,
        slow_acquires: slow,
        timeouts,
        wait,
        efficiency: if acquires == 0 {
            1.0
        } else {
            (acquires - slow - timeouts) as f64 / acquires as f64
        },
    }
}

/// A `sqlx::PgPool` whose acquisitions are timed.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn run(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// use nexus_dbmon::{ObservedPgPool, PoolObserver};
/// let observed = ObservedPgPool::new(pool);
/// let mut conn = observed.acquire().await?;
/// sqlx::query("SELECT 1").execute(&mut *conn).await?;
/// println!("pool efficiency {:.3}", observed.status().efficiency);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ObservedPgPool {
    pool: sqlx::PgPool,
    stats: Arc<AcquireStats>,
}

impl ObservedPgPool {
    /// Observes `pool`, counting acquisitions slower than 10 ms as slow.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self::with_slow_acquire(pool, Duration::from_millis(10))
    }

    /// Observes `pool` with another slow-acquire threshold.
    pub fn with_slow_acquire(pool: sqlx::PgPool, slow: Duration) -> Self {
        Self {
            pool,
            stats: Arc::new(AcquireStats::new(slow)),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Acquires a connection, timing the wait.
    pub async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, sqlx::Error> {
        let started = Instant::now();
        let r = self.pool.acquire().await;
        self.stats.record(
            started.elapsed(),
            matches!(r, Err(sqlx::Error::PoolTimedOut)),
        );
        r
    }
}

impl PoolObserver for ObservedPgPool {
    fn status(&self) -> PoolStatus {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        status(
            "sqlx",
            self.pool.size(),
            idle,
            self.pool.options().get_max_connections(),
            &self.stats,
        )
    }
}

/// A `bb8::Pool` whose acquisitions are timed (feature `bb8`).
#[cfg(feature = "bb8")]
#[derive(Debug, Clone)]
pub struct ObservedBb8<M: bb8::ManageConnection> {
    pool: bb8::Pool<M>,
    stats: Arc<AcquireStats>,
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> ObservedBb8<M> {
    /// Observes `pool`, counting acquisitions slower than 10 ms as slow.
    pub fn new(pool: bb8::Pool<M>) -> Self {
        Self {
            pool,
            stats: Arc::new(AcquireStats::new(Duration::from_millis(10))),
        }
    }

    /// The pool.
    pub fn pool(&self) -> &bb8::Pool<M> {
        &self.pool
    }

    /// Gets a connection, timing the wait.
    pub async fn get(&self) -> Result<bb8::PooledConnection<'_, M>, bb8::RunError<M::Error>> {
        let started = Instant::now();
        let r = self.pool.get().await;
        self.stats
            .record(started.elapsed(), matches!(r, Err(bb8::RunError::TimedOut)));
        r
    }
}

#[cfg(feature = "bb8")]
impl<M: bb8::ManageConnection> PoolObserver for ObservedBb8<M> {
    fn status(&self) -> PoolStatus {
        let s = self.pool.state();
        status(
            "bb8",
            s.connections,
            s.idle_connections,
            self.pool.config().max_size,
            &self.stats,
        )
    }
}

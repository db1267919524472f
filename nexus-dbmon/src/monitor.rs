//! `DbMonitor`: the pool, the settings, and the guarded read transaction every report runs in.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};

use crate::error::DbMonError;

/// Settings of a [`DbMonitor`]. Defaults: statement timeout 5 s, lock timeout 500 ms, slow query
/// 1 s (the spec's), long-running query 60 s, top 20 statements, query texts cut at 2 000 characters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MonitorConfig {
    /// `statement_timeout` of every monitoring query.
    pub statement_timeout: Duration,
    /// `lock_timeout` of every monitoring query and maintenance command.
    pub lock_timeout: Duration,
    /// Mean execution time above which a statement is slow.
    pub slow_query: Duration,
    /// Active queries running longer than this are listed.
    pub long_running: Duration,
    /// How many statements each ranking keeps.
    pub top_n: i64,
    /// Query texts are cut to this many characters.
    pub max_query_chars: i32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_millis(500),
            slow_query: Duration::from_secs(1),
            long_running: Duration::from_secs(60),
            top_n: 20,
            max_query_chars: 2000,
        }
    }
}

/// A PostgreSQL monitor over a `sqlx::PgPool`: reports, advice, guarded maintenance.
///
/// Every query runs in a read-only transaction under `statement_timeout` and `lock_timeout`;
/// relations another session holds an ACCESS EXCLUSIVE lock on are skipped and reported as such.
/// Works as a non-superuser with the `pg_monitor` role.
///
/// ```no_run
/// # #![allow(dead_code)]
/// # async fn run(pool: sqlx::PgPool) -> Result<(), nexus_dbmon::DbMonError> {
/// let monitor = nexus_dbmon::DbMonitor::builder(pool).slow_query(std::time::Duration::from_millis(500)).build();
/// let db = monitor.database().await?;
/// println!("{} is {} bytes, cache hit ratio {:.3}", db.name, db.size_bytes, db.cache_hit_ratio);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DbMonitor {
    pub(crate) pool: PgPool,
    pub(crate) config: MonitorConfig,
}

/// Builder for [`DbMonitor`].
#[derive(Debug, Clone)]
#[must_use]
pub struct DbMonitorBuilder {
    pool: PgPool,
    config: MonitorConfig,
}

impl DbMonitorBuilder {
    /// `statement_timeout` of monitoring queries (default 5 s).
    pub fn statement_timeout(mut self, t: Duration) -> Self {
        self.config.statement_timeout = t;
        self
    }

    /// `lock_timeout` of monitoring queries and maintenance (default 500 ms).
    pub fn lock_timeout(mut self, t: Duration) -> Self {
        self.config.lock_timeout = t;
        self
    }

    /// Slow-query threshold on mean execution time (default 1 s).
    pub fn slow_query(mut self, t: Duration) -> Self {
        self.config.slow_query = t;
        self
    }

    /// Long-running query threshold (default 60 s).
    pub fn long_running(mut self, t: Duration) -> Self {
        self.config.long_running = t;
        self
    }

    /// Statements kept per ranking (default 20).
    pub fn top_n(mut self, n: i64) -> Self {
        self.config.top_n = n.clamp(1, 1000);
        self
    }

    /// Builds.
    pub fn build(self) -> DbMonitor {
        DbMonitor {
            pool: self.pool,
            config: self.config,
        }
    }
}

impl DbMonitor {
    /// A builder over `pool`.
    pub fn builder(pool: PgPool) -> DbMonitorBuilder {
        DbMonitorBuilder {
            pool,
            config: MonitorConfig::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A read-only transaction with this monitor's timeouts.
    pub(crate) async fn read_tx(
        &self,
        report: &'static str,
    ) -> Result<Transaction<'static, Postgres>, DbMonError> {
        self.begin_read().await.map_err(DbMonError::query(report))
    }

    pub(crate) async fn begin_read(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // Waiting for a connection counts against the statement timeout too: a monitor must
        // answer "the database does not answer" in bounded time, whatever the pool's settings.
        let mut tx = tokio::time::timeout(self.config.statement_timeout, self.pool.begin())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        sqlx::query(
            "SELECT set_config('transaction_read_only', 'on', true), \
                    set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)",
        )
        .bind(millis(self.config.statement_timeout))
        .bind(millis(self.config.lock_timeout))
        .execute(&mut *tx)
        .await?;
        Ok(tx)
    }
}

pub(crate) fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// Whether an error is PostgreSQL's `lock_not_available` (55P03), i.e. `lock_timeout` fired.
pub(crate) fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03")
}

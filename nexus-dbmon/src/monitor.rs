//! `DbMonitor`: the pool, the settings, and the guarded read transaction every report runs in.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::DbMonError;

/// The marker every monitoring statement ends with. PostgreSQL keeps trailing comments in
/// `pg_stat_statements` texts, so the slow-query report can leave the monitor's own statements out.
pub const STATEMENT_MARK: &str = "/* nexus-dbmon */";

/// Appends [`STATEMENT_MARK`] to a statement (a literal or an `include_str!`) at compile time.
macro_rules! marked {
    ($($sql:tt)+) => {
        concat!($($sql)+, "\n/* nexus-dbmon */")
    };
}
pub(crate) use marked;

/// Settings of a [`DbMonitor`]. Defaults: statement timeout 5 s, lock timeout 500 ms, slow query
/// 1 s (the spec's), long-running query 60 s, top 20 statements, query texts cut at 2 000 characters,
/// at most 2 connections of its own, named `nexus-dbmon`.
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
    /// Connections of the monitor's own pool (2): its reads never take the application's.
    pub max_connections: u32,
    /// `application_name` of the monitor's sessions (`nexus-dbmon`).
    pub application_name: String,
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
            max_connections: 2,
            application_name: "nexus-dbmon".into(),
        }
    }
}

/// A PostgreSQL monitor over a `sqlx::PgPool`: reports, advice, guarded maintenance.
///
/// Every query runs in a read-only transaction under `statement_timeout` and `lock_timeout`;
/// relations another session holds an ACCESS EXCLUSIVE lock on are skipped and reported as such.
/// Works as a non-superuser with the `pg_monitor` role.
///
/// The monitor stays out of what it measures: it reads through a small pool of its own (2
/// connections by default, opened on first use with the application pool's connect options and
/// `application_name = 'nexus-dbmon'`), so no report can take a connection the application needs;
/// its statements end with [`STATEMENT_MARK`] and are left out of the slow-query report.
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
    /// The application's pool: only its connect options are used.
    app_pool: PgPool,
    /// The monitor's own pool, made on first use (building a pool needs a runtime).
    own: Arc<OnceLock<PgPool>>,
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

    /// Connections of the monitor's own pool (default 2, at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.config.max_connections = n.max(1);
        self
    }

    /// `application_name` of the monitor's sessions (default `nexus-dbmon`).
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.config.application_name = name.into();
        self
    }

    /// Builds. Opens no connection: the monitor's pool is made on first use.
    pub fn build(self) -> DbMonitor {
        DbMonitor {
            app_pool: self.pool,
            own: Arc::new(OnceLock::new()),
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

    /// The application's pool the monitor was built over.
    pub fn pool(&self) -> &PgPool {
        &self.app_pool
    }

    /// The monitor's own pool: the application pool's connect options with the monitor's
    /// `application_name`, at most `max_connections`, idle connections closed after a minute.
    /// Must be called inside a Tokio runtime (every report is).
    pub(crate) fn own_pool(&self) -> &PgPool {
        self.own.get_or_init(|| {
            PgPoolOptions::new()
                .max_connections(self.config.max_connections)
                .min_connections(0)
                .acquire_timeout(self.config.statement_timeout)
                .idle_timeout(Duration::from_secs(60))
                .connect_lazy_with(self.connect_options())
        })
    }

    /// Connect options of the monitor's sessions (also used for the one-off connections of
    /// index suggestions and maintenance).
    pub(crate) fn connect_options(&self) -> sqlx::postgres::PgConnectOptions {
        (*self.app_pool.connect_options())
            .clone()
            .application_name(&self.config.application_name)
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
        let mut tx = tokio::time::timeout(self.config.statement_timeout, self.own_pool().begin())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        sqlx::query(marked!(
            "SELECT set_config('transaction_read_only', 'on', true), \
                    set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)"
        ))
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

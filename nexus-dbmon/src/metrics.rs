//! The metrics this crate exports ([`publish_metrics`](crate::publish_metrics) and the snapshot
//! task), as constants: names, kinds, labels and HELP texts. [`describe`] registers the HELP
//! texts with the installed recorder.
//!
//! One scheme with the other Nexus crates: `nexus_pg_…`, Prometheus naming (`_total` on
//! counters, base units as suffixes), labels `database`, `schema`, `table`, `state`, `queryid`.
//! For dashboards written for postgres_exporter, each HELP text names the equivalent metric.
//!
//! ```
//! use nexus_dbmon::metrics::{ALL, UP};
//! assert_eq!(UP.name, "nexus_pg_up");
//! assert!(nexus_core::metric::check("nexus_pg_", ALL).is_ok());
//! nexus_dbmon::metrics::describe(); // no-op without a recorder
//! ```

use nexus_core::metric::Metric;

const DB: &[&str] = &["database"];
const TABLE: &[&str] = &["database", "schema", "table"];
const STATEMENT: &[&str] = &["database", "queryid"];

/// 1 when the last snapshot succeeded, 0 when it failed (postgres_exporter: `pg_up`).
pub const UP: Metric = Metric::gauge(
    "nexus_pg_up",
    &[],
    "1 when the database answered the monitor's last snapshot (pg_up).",
);
/// Database size (`pg_database_size_bytes`).
pub const DATABASE_SIZE: Metric = Metric::gauge(
    "nexus_pg_database_size_bytes",
    DB,
    "Database size (pg_database_size_bytes).",
);
/// Server start time (`pg_postmaster_start_time_seconds`).
pub const START_TIME: Metric = Metric::gauge(
    "nexus_pg_start_time_seconds",
    &[],
    "Server start time, Unix seconds (pg_postmaster_start_time_seconds).",
);
/// Buffer hits (`pg_stat_database_blks_hit`).
pub const BLOCKS_HIT: Metric = Metric::counter(
    "nexus_pg_blocks_hit_total",
    DB,
    "Blocks found in shared buffers (pg_stat_database_blks_hit).",
);
/// Blocks read (`pg_stat_database_blks_read`).
pub const BLOCKS_READ: Metric = Metric::counter(
    "nexus_pg_blocks_read_total",
    DB,
    "Blocks read from disk or the OS cache (pg_stat_database_blks_read).",
);
/// Commits (`pg_stat_database_xact_commit`).
pub const COMMITS: Metric = Metric::counter(
    "nexus_pg_commits_total",
    DB,
    "Transactions committed (pg_stat_database_xact_commit).",
);
/// Rollbacks (`pg_stat_database_xact_rollback`).
pub const ROLLBACKS: Metric = Metric::counter(
    "nexus_pg_rollbacks_total",
    DB,
    "Transactions rolled back (pg_stat_database_xact_rollback).",
);
/// Deadlocks (`pg_stat_database_deadlocks`).
pub const DEADLOCKS: Metric = Metric::counter(
    "nexus_pg_deadlocks_total",
    DB,
    "Deadlocks detected (pg_stat_database_deadlocks).",
);
/// Temporary files (`pg_stat_database_temp_files`).
pub const TEMP_FILES: Metric = Metric::counter(
    "nexus_pg_temp_files_total",
    DB,
    "Temporary files written by queries (pg_stat_database_temp_files).",
);
/// Temporary bytes (`pg_stat_database_temp_bytes`).
pub const TEMP_BYTES: Metric = Metric::counter(
    "nexus_pg_temp_bytes_total",
    DB,
    "Bytes written to temporary files (pg_stat_database_temp_bytes).",
);
/// WAL segments archived (`pg_stat_archiver_archived_count`).
pub const WAL_ARCHIVED: Metric = Metric::counter(
    "nexus_pg_wal_archived_total",
    &[],
    "WAL segments archived by continuous archiving, the database's backup stream (pg_stat_archiver_archived_count).",
);
/// Failed WAL archiving attempts (`pg_stat_archiver_failed_count`).
pub const WAL_ARCHIVE_FAILURES: Metric = Metric::counter(
    "nexus_pg_wal_archive_failures_total",
    &[],
    "Failed attempts to archive a WAL segment: the backup stream is broken (pg_stat_archiver_failed_count).",
);
/// Age of the oldest table transaction id.
pub const XID_AGE: Metric = Metric::gauge(
    "nexus_pg_xid_age",
    DB,
    "Age of the oldest table transaction id (wraparound at 2^31).",
);
/// `max_connections` (`pg_settings_max_connections`).
pub const MAX_CONNECTIONS: Metric = Metric::gauge(
    "nexus_pg_max_connections",
    &[],
    "The server's max_connections (pg_settings_max_connections).",
);
/// Backends by state (`pg_stat_activity_count`).
pub const CONNECTIONS: Metric = Metric::gauge(
    "nexus_pg_connections",
    &["database", "state"],
    "Client backends by state: active, idle, idle in transaction (pg_stat_activity_count).",
);
/// Backends waiting on a lock.
pub const WAITING_ON_LOCKS: Metric = Metric::gauge(
    "nexus_pg_connections_waiting_on_locks",
    DB,
    "Client backends waiting on a lock.",
);
/// Live tuples per table (`pg_stat_user_tables_n_live_tup`).
pub const TABLE_LIVE_TUPLES: Metric = Metric::gauge(
    "nexus_pg_table_live_tuples",
    TABLE,
    "Live tuples per table (pg_stat_user_tables_n_live_tup).",
);
/// Dead tuples per table (`pg_stat_user_tables_n_dead_tup`).
pub const TABLE_DEAD_TUPLES: Metric = Metric::gauge(
    "nexus_pg_table_dead_tuples",
    TABLE,
    "Dead tuples per table (pg_stat_user_tables_n_dead_tup).",
);
/// Sequential scans per table (`pg_stat_user_tables_seq_scan`).
pub const TABLE_SEQ_SCANS: Metric = Metric::counter(
    "nexus_pg_table_seq_scans_total",
    TABLE,
    "Sequential scans per table (pg_stat_user_tables_seq_scan).",
);
/// Index scans per table (`pg_stat_user_tables_idx_scan`).
pub const TABLE_INDEX_SCANS: Metric = Metric::counter(
    "nexus_pg_table_index_scans_total",
    TABLE,
    "Index scans per table (pg_stat_user_tables_idx_scan).",
);
/// Size per table, indexes and TOAST included.
pub const TABLE_SIZE: Metric = Metric::gauge(
    "nexus_pg_table_size_bytes",
    TABLE,
    "Size per table, indexes and TOAST included.",
);
/// Estimated bloat per table.
pub const TABLE_BLOAT: Metric = Metric::gauge(
    "nexus_pg_table_bloat_bytes",
    TABLE,
    "Estimated bloat per table (absent until the table is analyzed).",
);
/// Calls per statement (`pg_stat_statements_calls_total`).
pub const STATEMENT_CALLS: Metric = Metric::counter(
    "nexus_pg_statement_calls_total",
    STATEMENT,
    "Calls of the top and slow statements (pg_stat_statements_calls_total).",
);
/// Rows per statement (`pg_stat_statements_rows_total`).
pub const STATEMENT_ROWS: Metric = Metric::counter(
    "nexus_pg_statement_rows_total",
    STATEMENT,
    "Rows returned or affected by the top and slow statements (pg_stat_statements_rows_total).",
);
/// Execution time per statement (`pg_stat_statements_seconds_total`).
pub const STATEMENT_TIME: Metric = Metric::gauge(
    "nexus_pg_statement_time_seconds",
    STATEMENT,
    "Cumulative execution time of the top and slow statements; only grows, so rate() applies \
     (a gauge because it is fractional; pg_stat_statements_seconds_total).",
);

/// Every metric above.
pub const ALL: &[Metric] = &[
    UP,
    DATABASE_SIZE,
    START_TIME,
    BLOCKS_HIT,
    BLOCKS_READ,
    COMMITS,
    ROLLBACKS,
    DEADLOCKS,
    TEMP_FILES,
    TEMP_BYTES,
    WAL_ARCHIVED,
    WAL_ARCHIVE_FAILURES,
    XID_AGE,
    MAX_CONNECTIONS,
    CONNECTIONS,
    WAITING_ON_LOCKS,
    TABLE_LIVE_TUPLES,
    TABLE_DEAD_TUPLES,
    TABLE_SEQ_SCANS,
    TABLE_INDEX_SCANS,
    TABLE_SIZE,
    TABLE_BLOAT,
    STATEMENT_CALLS,
    STATEMENT_ROWS,
    STATEMENT_TIME,
];

/// Registers the HELP texts of [`ALL`] with the installed recorder.
pub fn describe() {
    nexus_core::metric::describe(ALL);
}

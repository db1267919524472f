//! A snapshot as metrics, under the names of [`crate::metrics`].

#[allow(unused_imports)]
use super::*;
use crate::metrics as m;

/// Publishes a snapshot through the `metrics` facade under the names of [`crate::metrics`]
/// (`nexus_pg_…`; each HELP text names the postgres_exporter equivalent).
pub fn publish_metrics(s: &Snapshot) {
    let d = &s.database;
    let db = d.name.clone();
    metrics::gauge!(m::UP.name).set(1.0);
    metrics::gauge!(m::DATABASE_SIZE.name, "database" => db.clone()).set(d.size_bytes as f64);
    metrics::gauge!(m::START_TIME.name).set(d.started_at);
    for (metric, v) in [
        (m::BLOCKS_HIT, d.blocks_hit),
        (m::BLOCKS_READ, d.blocks_read),
        (m::COMMITS, d.commits),
        (m::ROLLBACKS, d.rollbacks),
        (m::DEADLOCKS, d.deadlocks),
        (m::TEMP_FILES, d.temp_files),
        (m::TEMP_BYTES, d.temp_bytes),
    ] {
        metrics::counter!(metric.name, "database" => db.clone()).absolute(v.max(0) as u64);
    }
    metrics::counter!(m::WAL_ARCHIVED.name).absolute(d.wal_archived.max(0) as u64);
    metrics::counter!(m::WAL_ARCHIVE_FAILURES.name).absolute(d.wal_archive_failures.max(0) as u64);
    metrics::gauge!(m::XID_AGE.name, "database" => db.clone()).set(d.oldest_table_xid_age as f64);
    let c = &s.connections;
    metrics::gauge!(m::MAX_CONNECTIONS.name).set(f64::from(c.max_connections));
    for (state, n) in [
        ("active", c.active),
        ("idle", c.idle),
        ("idle in transaction", c.idle_in_transaction),
    ] {
        metrics::gauge!(m::CONNECTIONS.name, "database" => db.clone(), "state" => state)
            .set(n as f64);
    }
    metrics::gauge!(m::WAITING_ON_LOCKS.name, "database" => db.clone())
        .set(c.waiting_on_locks as f64);
    for t in &s.tables.tables {
        let labels = [
            ("database", db.clone()),
            ("schema", t.schema.clone()),
            ("table", t.name.clone()),
        ];
        metrics::gauge!(m::TABLE_LIVE_TUPLES.name, &labels).set(t.live_tuples as f64);
        metrics::gauge!(m::TABLE_DEAD_TUPLES.name, &labels).set(t.dead_tuples as f64);
        metrics::counter!(m::TABLE_SEQ_SCANS.name, &labels).absolute(t.seq_scans.max(0) as u64);
        metrics::counter!(m::TABLE_INDEX_SCANS.name, &labels).absolute(t.index_scans.max(0) as u64);
        metrics::gauge!(m::TABLE_SIZE.name, &labels).set(t.total_bytes as f64);
        if let Some(b) = t.bloat_bytes {
            metrics::gauge!(m::TABLE_BLOAT.name, &labels).set(b as f64);
        }
    }
    for st in s.statements.top_by_total.iter().chain(&s.statements.slow) {
        let labels = [
            ("database", db.clone()),
            ("queryid", st.queryid.to_string()),
        ];
        metrics::counter!(m::STATEMENT_CALLS.name, &labels).absolute(st.calls.max(0) as u64);
        metrics::counter!(m::STATEMENT_ROWS.name, &labels).absolute(st.rows.max(0) as u64);
        metrics::gauge!(m::STATEMENT_TIME.name, &labels).set(st.total_ms / 1e3);
    }
}

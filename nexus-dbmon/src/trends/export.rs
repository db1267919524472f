//! A snapshot as `metrics` gauges under postgres_exporter's names.

#[allow(unused_imports)]
use super::*;

/// Publishes a snapshot through the `metrics` facade under postgres_exporter's names
/// (`pg_up`, `pg_database_size_bytes`, `pg_stat_database_*`, `pg_stat_activity_count`,
/// `pg_settings_max_connections`, `pg_stat_user_tables_*`, `pg_stat_statements_*`), plus
/// `nexus_pg_*` for what postgres_exporter has no name for.
pub fn publish_metrics(s: &Snapshot) {
    let d = &s.database;
    let db = d.name.clone();
    metrics::gauge!("pg_up").set(1.0);
    metrics::gauge!("pg_database_size_bytes", "datname" => db.clone()).set(d.size_bytes as f64);
    metrics::gauge!("pg_postmaster_start_time_seconds").set(d.started_at);
    for (name, v) in [
        ("pg_stat_database_blks_hit", d.blocks_hit),
        ("pg_stat_database_blks_read", d.blocks_read),
        ("pg_stat_database_xact_commit", d.commits),
        ("pg_stat_database_xact_rollback", d.rollbacks),
        ("pg_stat_database_deadlocks", d.deadlocks),
        ("pg_stat_database_temp_files", d.temp_files),
        ("pg_stat_database_temp_bytes", d.temp_bytes),
    ] {
        metrics::counter!(name, "datname" => db.clone()).absolute(v.max(0) as u64);
    }
    metrics::gauge!("nexus_pg_xid_age", "datname" => db.clone()).set(d.oldest_table_xid_age as f64);
    let c = &s.connections;
    metrics::gauge!("pg_settings_max_connections").set(f64::from(c.max_connections));
    for (state, n) in [
        ("active", c.active),
        ("idle", c.idle),
        ("idle in transaction", c.idle_in_transaction),
    ] {
        metrics::gauge!("pg_stat_activity_count", "datname" => db.clone(), "state" => state)
            .set(n as f64);
    }
    metrics::gauge!("nexus_pg_waiting_on_locks", "datname" => db.clone())
        .set(c.waiting_on_locks as f64);
    for t in &s.tables.tables {
        let labels = [
            ("datname", db.clone()),
            ("schemaname", t.schema.clone()),
            ("relname", t.name.clone()),
        ];
        metrics::gauge!("pg_stat_user_tables_n_live_tup", &labels).set(t.live_tuples as f64);
        metrics::gauge!("pg_stat_user_tables_n_dead_tup", &labels).set(t.dead_tuples as f64);
        metrics::counter!("pg_stat_user_tables_seq_scan", &labels)
            .absolute(t.seq_scans.max(0) as u64);
        metrics::counter!("pg_stat_user_tables_idx_scan", &labels)
            .absolute(t.index_scans.max(0) as u64);
        metrics::gauge!("nexus_pg_table_size_bytes", &labels).set(t.total_bytes as f64);
        if let Some(b) = t.bloat_bytes {
            metrics::gauge!("nexus_pg_table_bloat_bytes", &labels).set(b as f64);
        }
    }
    for st in s.statements.top_by_total.iter().chain(&s.statements.slow) {
        let labels = [("datname", db.clone()), ("queryid", st.queryid.to_string())];
        metrics::counter!("pg_stat_statements_calls_total", &labels)
            .absolute(st.calls.max(0) as u64);
        metrics::counter!("pg_stat_statements_rows_total", &labels).absolute(st.rows.max(0) as u64);
        metrics::gauge!("pg_stat_statements_seconds_total", &labels).set(st.total_ms / 1e3);
    }
}

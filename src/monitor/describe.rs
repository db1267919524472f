//! Help texts of every metric the Nexus crates export, so `/metrics` carries `# HELP` lines
//! (and passes `promtool check metrics`).

use metrics::{describe_counter, describe_gauge, describe_histogram};

pub(super) fn describe_all() {
    for (name, help) in [
        (
            "http_server_requests_total",
            "HTTP requests finished, by route and method.",
        ),
        (
            "http_server_errors_total",
            "HTTP requests counted as errors (5xx by default), by route and method.",
        ),
        (
            "http_server_responses_total",
            "HTTP responses by route, method and status class.",
        ),
        (
            "nexus_alerting_rule_evaluations_total",
            "Rule evaluation rounds.",
        ),
        (
            "nexus_alerting_source_errors_total",
            "Failed or timed-out pulls from alerting sources.",
        ),
        (
            "nexus_alerting_notifications_total",
            "Notifications handed to a receiver.",
        ),
        (
            "nexus_alerting_notifications_failed_total",
            "Notifications given up after retries.",
        ),
        (
            "nexus_alerting_notification_requests_total",
            "Delivery attempts.",
        ),
        (
            "nexus_alerting_notification_requests_failed_total",
            "Failed delivery attempts.",
        ),
        (
            "nexus_alerting_escalations_total",
            "Escalation steps to the next receiver.",
        ),
        ("nexus_cache_hits_total", "Cache reads answered by a tier."),
        (
            "nexus_cache_misses_total",
            "Cache reads a tier could not answer.",
        ),
        ("nexus_cache_sets_total", "Cache writes per tier."),
        ("nexus_cache_deletes_total", "Cache deletions per tier."),
        (
            "nexus_cache_errors_total",
            "Tier errors (Redis unreachable, timeouts).",
        ),
        (
            "nexus_cache_corrupt_total",
            "Corrupt entries read back, treated as misses.",
        ),
        (
            "nexus_cache_invalidated_total",
            "Entries read back older than a mark of one of their tags (or of the last clear): misses.",
        ),
        (
            "nexus_cache_tag_mark_reads_total",
            "Reads of tag invalidation marks from a shared tier.",
        ),
        ("nexus_cache_evictions_total", "Entries evicted for space."),
        ("nexus_cache_loads_total", "Loader runs."),
        ("nexus_cache_load_errors_total", "Loader failures."),
        (
            "pg_stat_statements_calls_total",
            "Statement calls (pg_stat_statements).",
        ),
        (
            "pg_stat_statements_rows_total",
            "Rows returned or affected (pg_stat_statements).",
        ),
        (
            "pg_stat_user_tables_seq_scan",
            "Sequential scans per table.",
        ),
        ("pg_stat_user_tables_idx_scan", "Index scans per table."),
    ] {
        describe_counter!(name, help);
    }
    for (name, help) in [
        (
            "http_server_active_requests",
            "HTTP requests in progress, by route.",
        ),
        (
            "nexus_alerting_alerts",
            "Alerts held by the rules, by state.",
        ),
        ("nexus_cache_bytes", "Bytes held by a cache tier."),
        ("nexus_cache_hit_ratio", "Hit ratio per cache and tier."),
        ("nexus_dependency_up", "1 when a dependency's probe passes."),
        ("nexus_health_score", "The 0-100 health score."),
        (
            "nexus_resource_usage_ratio",
            "CPU, memory and disk use, 0-1.",
        ),
        ("nexus_pg_table_bloat_bytes", "Estimated bloat per table."),
        ("nexus_pg_table_size_bytes", "Size per table."),
        ("nexus_pg_waiting_on_locks", "Backends waiting on a lock."),
        (
            "nexus_pg_xid_age",
            "Age of the oldest table transaction id.",
        ),
        ("pg_up", "1 when the database answers the monitor."),
        ("pg_database_size_bytes", "Database size."),
        (
            "pg_postmaster_start_time_seconds",
            "Server start time, Unix seconds.",
        ),
        ("pg_settings_max_connections", "max_connections."),
        ("pg_stat_activity_count", "Backends by state."),
        (
            "pg_stat_statements_seconds_total",
            "Statement execution time (pg_stat_statements).",
        ),
        ("pg_stat_user_tables_n_live_tup", "Live tuples per table."),
        ("pg_stat_user_tables_n_dead_tup", "Dead tuples per table."),
    ] {
        describe_gauge!(name, help);
    }
    for (name, help) in [
        (
            "http_server_request_duration_seconds",
            "HTTP request duration.",
        ),
        (
            "nexus_alerting_notification_latency_seconds",
            "Delivery attempt duration.",
        ),
        (
            "nexus_alerting_rule_evaluation_duration_seconds",
            "Rule evaluation round duration.",
        ),
        ("nexus_cache_load_duration_seconds", "Loader duration."),
        (
            "nexus_cache_operation_duration_seconds",
            "Cache operation duration per tier and operation.",
        ),
    ] {
        describe_histogram!(name, metrics::Unit::Seconds, help);
    }
}

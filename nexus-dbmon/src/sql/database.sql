-- Database report: one row. Sizes in bytes, times as epoch seconds, ratios as fractions.
SELECT
    current_database()::text                                              AS name,
    pg_database_size(current_database())::int8                            AS size_bytes,
    d.blks_hit::int8                                                      AS blocks_hit,
    d.blks_read::int8                                                     AS blocks_read,
    d.xact_commit::int8                                                   AS commits,
    d.xact_rollback::int8                                                 AS rollbacks,
    d.deadlocks::int8                                                     AS deadlocks,
    d.temp_files::int8                                                    AS temp_files,
    d.temp_bytes::int8                                                    AS temp_bytes,
    extract(epoch FROM d.stats_reset)::float8                             AS stats_reset,
    extract(epoch FROM pg_postmaster_start_time())::float8                AS started_at,
    extract(epoch FROM now() - pg_postmaster_start_time())::float8        AS uptime_seconds,
    age(db.datfrozenxid)::int8                                            AS database_xid_age,
    (SELECT coalesce(max(age(c.relfrozenxid)), 0)
       FROM pg_class c
      WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid)::int8 AS oldest_table_xid_age,
    current_setting('server_version_num')::int4                           AS server_version_num,
    pg_is_in_recovery()                                                   AS in_recovery,
    current_setting('archive_mode') <> 'off'                              AS wal_archiving,
    (SELECT a.archived_count FROM pg_stat_archiver a)::int8               AS wal_archived,
    (SELECT a.failed_count FROM pg_stat_archiver a)::int8                 AS wal_archive_failures,
    (SELECT extract(epoch FROM a.last_archived_time) FROM pg_stat_archiver a)::float8 AS wal_last_archived_at,
    (SELECT coalesce(json_agg(json_build_object(
                'client', coalesce(r.client_addr::text, 'local'),
                'application', r.application_name,
                'state', r.state,
                'replay_lag_seconds', extract(epoch FROM r.replay_lag),
                'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)))::text, '[]')
       FROM pg_stat_replication r
      WHERE NOT pg_is_in_recovery())                                      AS replicas_json,
    (SELECT coalesce(json_agg(json_build_object(
                'slot', s.slot_name,
                'kind', s.slot_type,
                'retained_bytes', CASE WHEN pg_is_in_recovery() THEN NULL
                                       ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn) END))::text, '[]')
       FROM pg_replication_slots s
      WHERE NOT s.active)                                                 AS inactive_slots_json
FROM pg_stat_database d
JOIN pg_database db ON db.oid = d.datid
WHERE d.datname = current_database()

-- Tables report: one row per user table. Relations under an ACCESS EXCLUSIVE lock held by another
-- session are left out (sizing them would wait for the lock); the caller reports them as skipped.
-- $1 = oids to skip.
SELECT
    n.nspname::text                                   AS schema,
    c.relname::text                                   AS name,
    c.oid::int8                                       AS oid,
    pg_relation_size(c.oid)::int8                     AS heap_bytes,
    pg_indexes_size(c.oid)::int8                      AS index_bytes,
    coalesce(pg_total_relation_size(c.reltoastrelid), 0)::int8 AS toast_bytes,
    pg_total_relation_size(c.oid)::int8               AS total_bytes,
    c.relpages::int8                                  AS pages,
    coalesce(s.n_live_tup, 0)::int8                   AS live_tuples,
    coalesce(s.n_dead_tup, 0)::int8                   AS dead_tuples,
    coalesce(s.n_mod_since_analyze, 0)::int8          AS modified_since_analyze,
    coalesce(s.seq_scan, 0)::int8                     AS seq_scans,
    coalesce(s.seq_tup_read, 0)::int8                 AS seq_tuples_read,
    coalesce(s.idx_scan, 0)::int8                     AS index_scans,
    extract(epoch FROM s.last_vacuum)::float8         AS last_vacuum,
    extract(epoch FROM s.last_autovacuum)::float8     AS last_autovacuum,
    extract(epoch FROM s.last_analyze)::float8        AS last_analyze,
    extract(epoch FROM s.last_autoanalyze)::float8    AS last_autoanalyze,
    age(c.relfrozenxid)::int8                         AS xid_age
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND NOT (c.oid = ANY($1))
ORDER BY pg_total_relation_size(c.oid) DESC

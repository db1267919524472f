-- Tables report: one row per user table. Relations under an ACCESS EXCLUSIVE lock held by another
-- session are left out (sizing them would wait for the lock); the caller reports them as skipped.
-- $1 = oids to skip.
--
-- Bloat is estimated the ioguix way, from pg_stats: a row's size is the 23-byte header (plus a
-- null bitmap), aligned, plus the average data width, aligned, plus its 4-byte line pointer; the
-- pages the live rows need at the table's fillfactor are compared with the pages it has. NULL
-- when the table has no statistics (never analyzed).
WITH widths AS (
    SELECT c.oid, c.reltuples, c.relpages,
           coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int
                       FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor,
           count(*) AS natts,
           count(s.attname) AS natts_with_stats,
           bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)) AS data_width
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                          AND s.attname = a.attname AND NOT s.inherited
     WHERE c.relkind IN ('r', 'm')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
       AND NOT (c.oid = ANY($1))
     GROUP BY c.oid, c.reltuples, c.relpages, c.reloptions
), bloat AS (
    SELECT oid,
           CASE WHEN reltuples < 0 OR natts_with_stats < natts THEN NULL
                WHEN reltuples = 0 THEN 0
                ELSE ceil(reltuples / greatest(floor(
                        (current_setting('block_size')::int - 24) * fillfactor / 100.0
                        / (4 + ((23 + CASE WHEN has_nulls THEN (natts + 7) / 8 ELSE 0 END + 7) / 8) * 8
                             + ceil(data_width / 8.0) * 8)), 1))
           END::int8 AS expected_pages
      FROM widths
)
SELECT r.*, r.table_bytes - r.toast_bytes AS heap_bytes, r.table_bytes + r.index_bytes AS total_bytes
  FROM (
SELECT
    n.nspname::text                                   AS schema,
    c.relname::text                                   AS name,
    c.oid::int8                                       AS oid,
    -- Each size function stats files: call each once (the total is their sum, not another call).
    pg_table_size(c.oid)::int8                        AS table_bytes,
    pg_indexes_size(c.oid)::int8                      AS index_bytes,
    CASE WHEN c.reltoastrelid = 0 THEN 0
         ELSE pg_total_relation_size(c.reltoastrelid) END::int8 AS toast_bytes,
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
    age(c.relfrozenxid)::int8                         AS xid_age,
    b.expected_pages                                  AS expected_pages,
    c.relkind::text                                   AS kind,
    -- What PostgreSQL's compute_parallel_worker needs: a parallel scan counts one sequential
    -- scan per participant, so per-statement scans are worker scans ÷ participants.
    (SELECT substring(o FROM 'parallel_workers=([0-9]+)')::int4
       FROM unnest(c.reloptions) o WHERE o LIKE 'parallel_workers=%') AS parallel_workers_option,
    current_setting('max_parallel_workers_per_gather')::int4 AS max_parallel_workers,
    (SELECT setting::int8 FROM pg_settings WHERE name = 'min_parallel_table_scan_size') AS min_parallel_pages,
    current_setting('parallel_leader_participation')::bool AS leader_participates,
    current_setting('block_size')::int8               AS block_size
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
LEFT JOIN bloat b ON b.oid = c.oid
WHERE c.relkind IN ('r', 'm', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND NOT (c.oid = ANY($1))
) r
ORDER BY r.table_bytes + r.index_bytes DESC

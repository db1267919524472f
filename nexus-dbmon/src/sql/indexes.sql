-- Indexes report: one row per index on a user table; $1 = oids (of tables or indexes) to skip.
--
-- Btree bloat is estimated like the heap's: an index tuple is its 8-byte header (+4 with NULLs)
-- plus the key columns' average widths from pg_stats, aligned, plus a 4-byte line pointer; the
-- leaf pages the table's rows need at the index fillfactor (90 by default), plus the metapage,
-- are compared with the pages it has. NULL for other methods, expression keys, or no statistics.
WITH keys AS (
    SELECT x.indexrelid, t.reltuples,
           coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int
                       FROM unnest(i.reloptions) o WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor,
           count(*) AS ncols,
           count(s.avg_width) AS ncols_with_stats,
           bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls,
           sum(coalesce(s.avg_width, 0)) AS key_width
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_am am ON am.oid = i.relam AND am.amname = 'btree'
      CROSS JOIN LATERAL unnest(x.indkey::int2[]) AS k(attnum)
      LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0
      LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = t.relname
                          AND s.attname = a.attname AND NOT s.inherited
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
       AND NOT (t.oid = ANY($1)) AND NOT (i.oid = ANY($1))
     GROUP BY x.indexrelid, t.reltuples, i.reloptions
), bloat AS (
    SELECT indexrelid,
           CASE WHEN reltuples < 0 OR ncols_with_stats < ncols THEN NULL
                ELSE 1 + ceil(reltuples / greatest(floor(
                        (current_setting('block_size')::int - 24 - 16) * fillfactor / 100.0
                        / (4 + ((8 + CASE WHEN has_nulls THEN 4 ELSE 0 END + key_width + 7) / 8)::int * 8)), 1))
           END::int8 AS expected_pages
      FROM keys
)
SELECT
    -- How long usage counters have been counting (since the last reset, or server start).
    extract(epoch FROM now() - coalesce(
        (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
        pg_postmaster_start_time()))::float8          AS stats_age_seconds,
    n.nspname::text                                        AS schema,
    t.relname::text                                        AS table_name,
    i.relname::text                                        AS name,
    i.oid::int8                                            AS oid,
    pg_relation_size(i.oid)::int8                          AS size_bytes,
    coalesce(s.idx_scan, 0)::int8                          AS scans,
    coalesce(io.idx_blks_hit, 0)::int8                     AS blocks_hit,
    coalesce(io.idx_blks_read, 0)::int8                    AS blocks_read,
    x.indisunique                                          AS is_unique,
    x.indisprimary                                         AS is_primary,
    x.indisvalid                                           AS is_valid,
    (k.conindid IS NOT NULL)                               AS backs_constraint,
    am.amname::text                                        AS method,
    string_to_array(x.indkey::text, ' ')::int4[]           AS columns,
    coalesce(pg_get_expr(x.indexprs, x.indrelid), '')      AS expressions,
    coalesce(pg_get_expr(x.indpred, x.indrelid), '')       AS predicate,
    pg_get_indexdef(i.oid)                                 AS definition,
    i.relpages::int8                                       AS pages,
    b.expected_pages                                       AS expected_pages,
    current_setting('block_size')::int8                    AS block_size
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN bloat b ON b.indexrelid = i.oid
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.oid
LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.oid
-- A join, not a correlated EXISTS: pg_constraint has no index on conindid.
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0) k ON k.conindid = i.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND NOT (t.oid = ANY($1)) AND NOT (i.oid = ANY($1))
ORDER BY pg_relation_size(i.oid) DESC

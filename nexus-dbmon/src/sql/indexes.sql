-- Indexes report: one row per index on a user table; $1 = oids (of tables or indexes) to skip.
SELECT
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
    i.relpages::int8                                       AS pages
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.oid
LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.oid
-- A join, not a correlated EXISTS: pg_constraint has no index on conindid.
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0) k ON k.conindid = i.oid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_toast'
  AND NOT (t.oid = ANY($1)) AND NOT (i.oid = ANY($1))
ORDER BY pg_relation_size(i.oid) DESC

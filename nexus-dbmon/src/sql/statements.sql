-- Statement statistics for pg_stat_statements 1.8 and later (total_exec_time / mean_exec_time),
-- read without query texts. $1 = top N, $2 = slow threshold in ms.
WITH s AS (
    SELECT queryid, sum(calls)::int8 AS calls, sum(rows)::int8 AS rows,
           sum(total_exec_time)::float8 AS total_ms,
           (sum(total_exec_time) / nullif(sum(calls), 0))::float8 AS mean_ms,
           max(max_exec_time)::float8 AS max_ms,
           sum(shared_blks_hit)::int8 AS blocks_hit, sum(shared_blks_read)::int8 AS blocks_read
      FROM pg_stat_statements(false)
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL
     GROUP BY queryid
)
SELECT * FROM (SELECT *, 'total' AS ranked_by FROM s ORDER BY total_ms DESC LIMIT $1) t
UNION ALL
SELECT * FROM (SELECT *, 'mean' AS ranked_by FROM s WHERE mean_ms >= $2 ORDER BY mean_ms DESC LIMIT $1) m

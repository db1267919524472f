-- Connections report: one row. $1 = long-running threshold in seconds.
WITH a AS (
    SELECT pid, usename, application_name, state, wait_event_type, query, backend_type,
           extract(epoch FROM now() - query_start)::float8 AS query_seconds,
           extract(epoch FROM now() - xact_start)::float8  AS xact_seconds,
           pg_blocking_pids(pid) AS blocked_by
      FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
)
SELECT
    current_setting('max_connections')::int4                                   AS max_connections,
    (SELECT count(*) FROM pg_stat_activity)::int8                               AS total,
    (SELECT count(*) FROM a)::int8                                              AS client,
    (SELECT count(*) FROM a WHERE state = 'active')::int8                       AS active,
    (SELECT count(*) FROM a WHERE state = 'idle')::int8                         AS idle,
    (SELECT count(*) FROM a WHERE state LIKE 'idle in transaction%')::int8      AS idle_in_transaction,
    (SELECT coalesce(max(xact_seconds), 0) FROM a WHERE state LIKE 'idle in transaction%')::float8
                                                                                AS oldest_idle_in_transaction_seconds,
    (SELECT count(*) FROM a WHERE wait_event_type = 'Lock')::int8               AS waiting_on_locks,
    (SELECT coalesce(json_agg(json_build_object(
                'blocked_pid', a.pid, 'blocking_pid', b,
                'blocked_query', left(a.query, $2), 'blocked_seconds', a.query_seconds)), '[]')::text
       FROM a, unnest(a.blocked_by) AS b)                                       AS blocking_json,
    (SELECT coalesce(json_agg(json_build_object(
                'pid', pid, 'user', usename, 'application', application_name, 'state', state,
                'seconds', query_seconds, 'query', left(query, $2)) ORDER BY query_seconds DESC), '[]')::text
       FROM a WHERE state = 'active' AND query_seconds > $1)                   AS long_running_json

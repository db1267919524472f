-- Texts of the given statements only, truncated; `own` marks the monitor's own statements (their
-- texts end with the monitor's marker, which truncation could cut). $1 = queryids, $2 = max
-- characters, $3 = the marker.
SELECT DISTINCT ON (queryid) queryid, left(query, $2) AS query, strpos(query, $3) > 0 AS own
  FROM pg_stat_statements(true)
 WHERE queryid = ANY($1)

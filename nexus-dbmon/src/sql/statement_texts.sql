-- Texts of the given statements only, truncated. $1 = queryids, $2 = max characters.
SELECT DISTINCT ON (queryid) queryid, left(query, $2) AS query
  FROM pg_stat_statements(true)
 WHERE queryid = ANY($1)

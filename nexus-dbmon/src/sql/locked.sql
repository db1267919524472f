-- Relations another session holds an ACCESS EXCLUSIVE lock on (granted), with who holds it.
SELECT l.relation::int8 AS oid,
       coalesce(n.nspname || '.' || c.relname, l.relation::text) AS name,
       l.pid::int4 AS pid
  FROM pg_locks l
  LEFT JOIN pg_class c ON c.oid = l.relation
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted
   AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())

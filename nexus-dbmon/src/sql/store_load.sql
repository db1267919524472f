-- The newest $1 summaries, oldest first; {table} quoted by the caller.
SELECT point FROM (SELECT taken_at, point FROM {table} ORDER BY taken_at DESC LIMIT $1) p ORDER BY taken_at

-- One snapshot summary; {table} quoted by the caller. $1 = taken_at (Unix s), $2 = summary.
INSERT INTO {table} (taken_at, point) VALUES ($1, $2)

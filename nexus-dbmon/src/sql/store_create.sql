-- Snapshot store; {table} is the user's table, quoted by the caller (quote_ident).
CREATE TABLE IF NOT EXISTS {table} (
    taken_at double precision NOT NULL,
    point    jsonb NOT NULL
)

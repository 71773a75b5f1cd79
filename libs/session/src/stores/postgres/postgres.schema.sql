-- @novanest/session: the table PostgresStore expects (default name "sessions").
-- Run it once with your migrations, or pass `createTable: true` to let the store create it.
-- Rename the table (and the index) if you pass `table` to PostgresStore.
CREATE TABLE IF NOT EXISTS sessions (
  -- SHA-256 digest of the session id (base64url): the table never holds a live id.
  key        text        PRIMARY KEY,
  -- The session's values by key; each request merges only the keys it changed.
  data       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  -- Start of the absolute timeout.
  created_at timestamptz NOT NULL,
  -- Idle expiry, set from the database clock; expired rows are ignored and pruned.
  expires_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);

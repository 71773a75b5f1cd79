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
  expires_at timestamptz NOT NULL,
  -- The user the session is bound to (session.bindUser), for listing and revoking a user's sessions.
  user_id    text,
  -- A destroy mark: the session was destroyed and its id may not start a session again until
  -- then (the row is emptied and expired meanwhile). NULL for every live session.
  gone_until timestamptz
);

CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions (expires_at);

-- A user's sessions (session.bindUser). Also the migration for a table created by an earlier
-- version: both statements are no-ops when already applied. Only bound sessions use the column,
-- so an app that never calls bindUser runs unchanged before the migration.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS user_id text;
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

-- Destroy marks, so a new visitor's parallel first writes make one session (and a destroyed
-- id never comes back). Also the migration for a table created by an earlier version; until
-- it runs, every new visitor's first write gets a fresh id, as before.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS gone_until timestamptz;

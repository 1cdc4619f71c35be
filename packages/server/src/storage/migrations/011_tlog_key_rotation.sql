-- Log-key rotation announcements (core/src/tlog/key-rotation.ts, docs/log-key-rotation.md):
-- signed notes in which a transparency log names its next checkpoint key, signed by the old
-- key and the new key. Public data (served at /logs/<name>/key-rotations, in id order); the
-- keys themselves never enter the database. One announcement per (log, old key, new key):
-- several nodes starting with the same next key store it once (ON CONFLICT DO NOTHING).
CREATE TABLE tlog_key_rotations (
  id         bigserial PRIMARY KEY,
  log        text NOT NULL,
  old_key    text NOT NULL,
  new_key    text NOT NULL,
  start_size bigint NOT NULL CHECK (start_size >= 0),
  note       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (log, old_key, new_key)
);

-- Transparency logs: RFC 6962/9162 Merkle trees with C2SP tlog-checkpoint checkpoints,
-- served as C2SP tlog-tiles. One engine and one set of tables for every log (the key
-- log now, the audit log later). Public data only: entries, tree hashes and signed
-- checkpoints. The log's signing key never enters the database.
--
-- No foreign keys on the per-entry tables: the engine is their only writer, and an FK
-- check on every append would lock the log's row against the sequencer.

-- One row per log: its identity and its current tree head. The sequencer locks this
-- row (FOR NO KEY UPDATE) for the whole batch transaction, so sequencing and
-- checkpoint publishing run exactly once at a time across all nodes.
CREATE TABLE tlogs (
  name          text PRIMARY KEY,
  origin        text NOT NULL UNIQUE,
  tree_size     bigint NOT NULL CHECK (tree_size >= 0),
  root_hash     bytea NOT NULL CHECK (octet_length(root_hash) = 32),
  -- The latest signed checkpoint (C2SP signed note), served at <prefix>/checkpoint.
  checkpoint    text NOT NULL,
  checkpoint_at timestamptz NOT NULL DEFAULT now(),
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Entries accepted durably (committed with the caller's transaction) but not yet
-- sequenced into the tree. `label` lets the key directory find entries by subject.
CREATE TABLE tlog_pending (
  id         bigserial PRIMARY KEY,
  log        text NOT NULL,
  entry      bytea NOT NULL CHECK (octet_length(entry) BETWEEN 1 AND 65535),
  label      bytea,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tlog_pending_by_log ON tlog_pending (log, id);

-- Sequenced entries: leaf `idx` of the log's tree. `pending_id` answers "which index
-- did my append get" (waitSequenced) on any node.
CREATE TABLE tlog_entries (
  log        text NOT NULL,
  idx        bigint NOT NULL CHECK (idx >= 0),
  entry      bytea NOT NULL,
  label      bytea,
  pending_id bigint NOT NULL,
  PRIMARY KEY (log, idx)
);
CREATE INDEX tlog_entries_by_label ON tlog_entries (log, label, idx) WHERE label IS NOT NULL;
CREATE UNIQUE INDEX tlog_entries_by_pending_id ON tlog_entries (pending_id);

-- Every complete subtree hash, by stored-hash index (golang.org/x/mod/sumdb/tlog
-- numbering): tiles, roots and proofs are read from here, never recomputed from leaves.
CREATE TABLE tlog_hashes (
  log  text NOT NULL,
  idx  bigint NOT NULL CHECK (idx >= 0),
  hash bytea NOT NULL CHECK (octet_length(hash) = 32),
  PRIMARY KEY (log, idx)
);

-- Every checkpoint the log published (on growth and on each heartbeat).
CREATE TABLE tlog_checkpoints (
  id         bigserial PRIMARY KEY,
  log        text NOT NULL,
  tree_size  bigint NOT NULL CHECK (tree_size >= 0),
  note       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tlog_checkpoints_by_size ON tlog_checkpoints (log, tree_size);

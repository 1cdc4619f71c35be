-- The blob store (blobs/, http/routes/blobs.ts): attachment ciphertext the devices encrypted,
-- uploaded in pieces. The server keeps its size, its owner and its SHA-256, never a key.

-- One row per blob. `stored` is the upload offset: the bytes durably written (the store may
-- hold more after an interrupted append; the next append truncates them). `writer` is the
-- lease of the one request appending now (until `writer_until`). A deleted blob keeps its
-- row in state 'deleted' (its quota already freed) until its bytes are gone from the store.
CREATE TABLE blobs (
  id           text PRIMARY KEY,
  identity_id  text NOT NULL REFERENCES identities (id),
  business_id  text NOT NULL,
  size         bigint NOT NULL CHECK (size > 0),
  stored       bigint NOT NULL DEFAULT 0 CHECK (stored >= 0 AND stored <= size),
  state        text NOT NULL DEFAULT 'uploading' CHECK (state IN ('uploading', 'complete', 'deleted')),
  sha256       bytea,
  writer       text,
  writer_until timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  completed_at timestamptz,
  CHECK ((state = 'complete') = (sha256 IS NOT NULL AND completed_at IS NOT NULL) OR state = 'deleted')
);
CREATE INDEX blobs_by_created ON blobs (created_at);
CREATE INDEX blobs_uploading_by_expiry ON blobs (expires_at) WHERE state = 'uploading';
CREATE INDEX blobs_complete_by_completion ON blobs (completed_at) WHERE state = 'complete';
CREATE INDEX blobs_deleted ON blobs (id) WHERE state = 'deleted';

-- Bytes reserved per business: the declared size of each of its blobs not deleted (the quota).
CREATE TABLE blob_usage (
  business_id text PRIMARY KEY,
  bytes       bigint NOT NULL CHECK (bytes >= 0)
);

-- Who else may fetch a blob: every recipient device of a message that named it (written
-- with the message, in its transaction). `fetched_at`: a GET of that device reached the end.
CREATE TABLE blob_grants (
  blob_id     text NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
  device_id   text NOT NULL,
  envelope_id bigint NOT NULL,
  granted_at  timestamptz NOT NULL DEFAULT now(),
  fetched_at  timestamptz,
  PRIMARY KEY (blob_id, device_id)
);

-- The `database` store's bytes: row `seq` holds bytes [seq × 256 KiB, (seq + 1) × 256 KiB).
CREATE TABLE blob_chunks (
  blob_id text NOT NULL,
  seq     integer NOT NULL CHECK (seq >= 0),
  data    bytea NOT NULL,
  PRIMARY KEY (blob_id, seq)
);

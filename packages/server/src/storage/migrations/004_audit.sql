-- Audit evidence: the signed commitment of each business message and the
-- receipts its recipient's devices signed. The public audit log holds only
-- their hashes (under the commitment hash as label); these rows hold what an
-- evidence bundle needs. No plaintext, no opening: those never leave the
-- parties' devices.

CREATE TABLE audit_commitments (
  message_id            text PRIMARY KEY,
  commitment            text NOT NULL,
  commitment_hash       bytea NOT NULL UNIQUE,
  signature             bytea NOT NULL,
  sender_device_id      text NOT NULL,
  sender_identity_id    text NOT NULL,
  recipient_identity_id text NOT NULL,
  conversation_id       text NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_receipts (
  message_id   text NOT NULL REFERENCES audit_commitments (message_id),
  device_id    text NOT NULL,
  status       text NOT NULL CHECK (status IN ('delivered', 'read', 'commitment-mismatch')),
  receipt      text NOT NULL,
  receipt_hash bytea NOT NULL UNIQUE,
  signature    bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, device_id, status)
);

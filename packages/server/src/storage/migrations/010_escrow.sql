-- Escrow (docs/escrow.md): escrow keys registered by a business (public records: the
-- public key, threshold, officers' public keys and the shares HPKE-sealed to each
-- officer), the sealed copy of each escrowed business message (HPKE to the escrow public
-- key: this node cannot open it), requests to open a message, the officers' signed
-- approvals with their shares sealed to the requester's key, and the openings. No
-- plaintext, no private key, no share in clear. Every registration, request, approval and
-- opening is also an entry of the audit log.

CREATE TABLE escrow_keys (
  key_id       text PRIMARY KEY,
  business_id  text NOT NULL REFERENCES businesses (id),
  record       text NOT NULL,
  record_hash  bytea NOT NULL UNIQUE,
  threshold    integer NOT NULL CHECK (threshold BETWEEN 2 AND 16),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX escrow_keys_business ON escrow_keys (business_id);

CREATE TABLE escrow_blobs (
  message_id   text PRIMARY KEY REFERENCES audit_commitments (message_id),
  key_id       text NOT NULL REFERENCES escrow_keys (key_id),
  blob         bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE escrow_requests (
  request_id   text PRIMARY KEY,
  message_id   text NOT NULL REFERENCES escrow_blobs (message_id),
  key_id       text NOT NULL REFERENCES escrow_keys (key_id),
  request      text NOT NULL,
  request_hash bytea NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  opened_at    timestamptz
);
CREATE INDEX escrow_requests_message ON escrow_requests (message_id);

CREATE TABLE escrow_approvals (
  request_id    text NOT NULL REFERENCES escrow_requests (request_id),
  officer_id    text NOT NULL,
  approval      text NOT NULL,
  approval_hash bytea NOT NULL UNIQUE,
  signature     bytea NOT NULL,
  released      bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, officer_id)
);

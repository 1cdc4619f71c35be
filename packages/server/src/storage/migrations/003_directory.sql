-- Key directory on the key transparency log: each identity's VRF label (RFC 9381)
-- and the proof that it belongs to the identity, computed once; devices may wait
-- for approval by an existing device of their identity.

CREATE TABLE identity_labels (
  identity_id text PRIMARY KEY REFERENCES identities (id),
  label       bytea NOT NULL UNIQUE,
  vrf_proof   bytea NOT NULL
);

ALTER TABLE devices DROP CONSTRAINT devices_status_check;
ALTER TABLE devices ADD CONSTRAINT devices_status_check CHECK (status IN ('active', 'pending', 'revoked'));

-- Social recovery (docs/social-recovery.md): devices' holder keys (X25519, signed by the
-- device's identity key), each identity's recovery set (the owner's signed manifest and one
-- HPKE-sealed Shamir share per holder device), requests by a device of the owner (its
-- ephemeral key, signed) and the holders' answers (a share re-sealed to that key, or a
-- decline). Ciphertext and public keys only: no share, no recovery key in the clear.

CREATE TABLE recovery_holder_keys (
  device_id   text PRIMARY KEY REFERENCES devices (id),
  hpke_key    bytea NOT NULL,
  signature   bytea NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One set per identity: a new one replaces it (its shares, requests and answers go with it).
CREATE TABLE recovery_sets (
  set_id       text PRIMARY KEY,
  identity_id  text NOT NULL UNIQUE REFERENCES identities (id),
  device_id    text NOT NULL REFERENCES devices (id),
  threshold    integer NOT NULL CHECK (threshold BETWEEN 2 AND 10),
  manifest     text NOT NULL,
  signature    bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recovery_shares (
  set_id            text NOT NULL REFERENCES recovery_sets (set_id) ON DELETE CASCADE,
  holder_device_id  text NOT NULL REFERENCES devices (id),
  share_index       integer NOT NULL CHECK (share_index BETWEEN 1 AND 10),
  sealed            bytea NOT NULL,
  PRIMARY KEY (set_id, holder_device_id)
);
CREATE INDEX recovery_shares_by_holder ON recovery_shares (holder_device_id);

CREATE TABLE recovery_requests (
  request_id     text PRIMARY KEY,
  set_id         text NOT NULL REFERENCES recovery_sets (set_id) ON DELETE CASCADE,
  identity_id    text NOT NULL REFERENCES identities (id),
  device_id      text NOT NULL REFERENCES devices (id),
  binding        text NOT NULL,
  signature      bytea NOT NULL,
  expires_at     timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recovery_requests_by_set ON recovery_requests (set_id);

CREATE TABLE recovery_answers (
  request_id        text NOT NULL REFERENCES recovery_requests (request_id) ON DELETE CASCADE,
  holder_device_id  text NOT NULL,
  share_index       integer NOT NULL,
  decision          text NOT NULL CHECK (decision IN ('released', 'declined')),
  sealed            bytea,
  answered_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, holder_device_id),
  CHECK ((decision = 'released') = (sealed IS NOT NULL))
);

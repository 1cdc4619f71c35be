-- Encrypted backups (docs/backup-format.md): opaque ciphertext per identity, the last few
-- versions, each with the SHA-256 of the access key that gates its fetch (the key itself is
-- derived on the device from the recovery secret and never stored here).

CREATE TABLE backups (
  identity_id  text NOT NULL REFERENCES identities (id),
  version      integer NOT NULL CHECK (version > 0),
  blob         bytea NOT NULL,
  access_hash  bytea NOT NULL,
  -- The backup's key-derivation parameters as the device states them (public: its salt and
  -- Argon2id costs), so a restoring device can derive the access key before it fetches.
  kdf          text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (identity_id, version)
);

-- Parley schema v1: registry, key directory, relay. Public keys, ciphertext and
-- metadata only: no plaintext, no private key of any device.

CREATE TABLE businesses (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Keys that verify a business's enrollment tokens (public JWK, EdDSA/Ed25519 or ES256).
CREATE TABLE business_keys (
  business_id text NOT NULL REFERENCES businesses (id),
  kid         text NOT NULL,
  public_jwk  jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  PRIMARY KEY (business_id, kid)
);

CREATE TABLE identities (
  id           text PRIMARY KEY,
  business_id  text NOT NULL REFERENCES businesses (id),
  kind         text NOT NULL CHECK (kind IN ('customer', 'sender', 'agent', 'bot')),
  display_name text,
  phone        text,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id            text PRIMARY KEY,
  identity_id   text NOT NULL REFERENCES identities (id),
  identity_key  bytea NOT NULL,
  signature_key bytea NOT NULL,
  suite         text NOT NULL,
  label         text,
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz
);
CREATE INDEX devices_by_identity ON devices (identity_id);

-- Single use of enrollment tokens: one row per token id (jti) until it expires.
CREATE TABLE enrollment_token_uses (
  business_id text NOT NULL,
  jti         text NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_id, jti)
);

CREATE TABLE auth_challenges (
  challenge   bytea PRIMARY KEY,
  device_id   text NOT NULL,
  expires_at  timestamptz NOT NULL
);

-- Secrets of the server itself shared by all nodes (session-token MAC key).
CREATE TABLE server_secrets (
  name        text PRIMARY KEY,
  value       bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE key_packages (
  id          bigserial PRIMARY KEY,
  device_id   text NOT NULL REFERENCES devices (id),
  ref         bytea NOT NULL UNIQUE,
  key_package bytea NOT NULL,
  last_resort boolean NOT NULL DEFAULT false,
  not_after   timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);

-- Token buckets shared by all nodes.
CREATE TABLE rate_limits (
  bucket      text PRIMARY KEY,
  tokens      double precision NOT NULL,
  updated_at  timestamptz NOT NULL
);

-- MLS groups as the delivery service sees them: epoch (commit ordering), the
-- latest GroupInfo (for resync) and the devices that receive its messages.
CREATE TABLE groups (
  id          text PRIMARY KEY,
  epoch       bigint NOT NULL,
  group_info  bytea,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE group_members (
  group_id    text NOT NULL REFERENCES groups (id),
  device_id   text NOT NULL,
  PRIMARY KEY (group_id, device_id)
);
CREATE INDEX group_members_by_device ON group_members (device_id);

-- One submitted MLS message. `payload` is ciphertext; `pending` counts the
-- recipients that have not acknowledged it, and the payload is cleared when it
-- reaches zero. The row itself stays for the idempotency window. Updates of
-- `pending`/`payload` touch no indexed column, so with free space in the page
-- (fillfactor) they are done in place (HOT).
CREATE TABLE envelopes (
  id               bigserial PRIMARY KEY,
  sender_device_id text NOT NULL,
  idempotency_key  text NOT NULL,
  part             smallint NOT NULL DEFAULT 0,
  group_id         text NOT NULL,
  kind             text NOT NULL CHECK (kind IN ('application', 'commit', 'proposal', 'welcome')),
  epoch            bigint,
  payload          bytea,
  payload_bytes    integer NOT NULL,
  recipients       text[] NOT NULL,
  pending          integer NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  UNIQUE (sender_device_id, idempotency_key, part)
) WITH (fillfactor = 85, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX envelopes_by_created ON envelopes USING brin (created_at);

-- Per-device mailbox: one row per (recipient device, envelope) until it is
-- acknowledged; an ack deletes the row. Rows of expired envelopes are removed
-- by the retention sweep.
CREATE TABLE deliveries (
  device_id   text NOT NULL,
  envelope_id bigint NOT NULL,
  PRIMARY KEY (device_id, envelope_id)
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.01);

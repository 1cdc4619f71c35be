-- The gateway's state: the business's sender identity (encrypted records), who leads,
-- the bank's API keys and the messages it accepted.

-- Settings written by `parley gateway init`: business id, server URL, the wrapped data key.
CREATE TABLE gateway_settings (
  name  text PRIMARY KEY,
  value text NOT NULL
);

-- The sender device's KeyStore: one AES-256-GCM sealed record per name (AAD = name).
CREATE TABLE gateway_records (
  name       text PRIMARY KEY,
  value      bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Leases with fencing: `fence` grows at every change of holder; a write under a lease
-- checks holder and fence in its own transaction.
CREATE TABLE gateway_leases (
  name       text PRIMARY KEY,
  holder     text NOT NULL,
  fence      bigint NOT NULL,
  expires_at timestamptz NOT NULL
);

-- The bank services' API keys: only a SHA-256 of the secret part is kept.
CREATE TABLE gateway_api_keys (
  id           text PRIMARY KEY,
  secret_hash  bytea NOT NULL,
  label        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at   timestamptz,
  last_used_at timestamptz
);

-- Messages the bank's services handed over. The body and phone are sealed under the data
-- key while the message waits; the body is erased once the message left.
CREATE TABLE gateway_messages (
  id               text PRIMARY KEY,
  idempotency_key  text UNIQUE,
  request_hash     bytea NOT NULL,
  api_key_id       text NOT NULL,
  customer_id      text NOT NULL,
  class            text NOT NULL,
  body_sealed      bytea,
  phone_sealed     bytea,
  status_callback  text,
  status           text NOT NULL,
  path             text,
  reason           text,
  mode             text,
  attempts         integer NOT NULL DEFAULT 0,
  next_at          timestamptz NOT NULL DEFAULT now(),
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  -- the last time the route status was asked of the server, and whether it is final
  polled_at        timestamptz,
  settled          boolean NOT NULL DEFAULT false,
  -- the server's last answer about the route (JSON: state, path, decisions, receipts, audit)
  route_status     text,
  -- what was already reported by webhook (JSON), so each change is reported once
  reported         text
);
CREATE INDEX gateway_messages_due ON gateway_messages (next_at) WHERE status IN ('queued', 'sending');
CREATE INDEX gateway_messages_unsettled ON gateway_messages (polled_at) WHERE settled = false AND status NOT IN ('queued', 'sending');
CREATE INDEX gateway_messages_customer ON gateway_messages (customer_id, created_at);

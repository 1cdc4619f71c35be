-- Device diagnostics (POST /v1/diagnostics) for the operator console: metadata only.
-- Decrypt failures are hourly counts by reason code, SDK version and platform (each from
-- a fixed list, else 'other'): no device, identity, message or conversation id.
CREATE TABLE decrypt_failures_hourly (
  hour        timestamptz NOT NULL,
  reason      text NOT NULL,
  sdk_version text NOT NULL,
  platform    text NOT NULL,
  count       bigint NOT NULL CHECK (count >= 0),
  PRIMARY KEY (hour, reason, sdk_version, platform)
);

-- Whether a customer verified their business's keys (safety number or QR), as their own
-- device reported it; one row per customer identity.
CREATE TABLE customer_verifications (
  identity_id text PRIMARY KEY REFERENCES identities (id),
  state       text NOT NULL CHECK (state IN ('verified', 'unverified')),
  method      text CHECK (method IN ('qr', 'numeric')),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The console's delivery views read routes of a time window, newest first.
CREATE INDEX routes_by_created ON routes (created_at);
CREATE INDEX channel_sends_by_created ON channel_sends (created_at);
-- Devices awaiting approval (few), listed by the console.
CREATE INDEX devices_pending ON devices (created_at) WHERE status = 'pending';

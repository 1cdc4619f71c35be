-- Capability-aware routing: per-message route state, the decisions taken (metadata
-- only), what was handed to which provider, one-time retrieval tokens, the
-- capability cache and fallback consents. No content and no content keys: a web
-- retrieval holds only ciphertext whose key travels in the link's URL fragment.

ALTER TABLE devices ADD COLUMN push_provider text CHECK (push_provider IN ('fcm', 'apns'));
ALTER TABLE devices ADD COLUMN push_token text;

-- One row per business message to one customer identity.
CREATE TABLE routes (
  message_id      text PRIMARY KEY,
  envelope_id     bigint,
  business_id     text NOT NULL,
  identity_id     text NOT NULL,
 class           text NOT NULL,
  -- 'app': an MLS message for a customer with the app; 'web': a web retrieval link for one without
  mode            text NOT NULL DEFAULT 'app' CHECK (mode IN ('app', 'web')),
  state           text NOT NULL CHECK (state IN ('active', 'delivered', 'blocked', 'invited', 'exhausted', 'failed')),
  -- index of the next step of the policy's chain to start
  step            integer NOT NULL DEFAULT 0,
  -- the step that was running when the message was delivered, as a path name
  path            text,
  next_at         timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX routes_due ON routes (next_at) WHERE state = 'active';
CREATE INDEX routes_by_envelope ON routes (envelope_id);

-- Every routing decision, for the console and metrics: metadata only.
CREATE TABLE route_events (
  id          bigserial PRIMARY KEY,
  message_id  text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  step        text NOT NULL,
  channel     text,
  decision    text NOT NULL,
  reason      text
);
CREATE INDEX route_events_by_message ON route_events (message_id, id);

-- What was handed to a provider for a route step: at most once per (message, step, channel).
CREATE TABLE channel_sends (
  message_id          text NOT NULL,
  step                integer NOT NULL,
  channel             text NOT NULL,
  provider_message_id text,
  status              text NOT NULL,
  reason              text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (message_id, step, channel)
);
CREATE INDEX channel_sends_by_provider_id ON channel_sends (channel, provider_message_id);

-- One-time retrieval tokens (only their SHA-256 is stored).
CREATE TABLE retrieval_tokens (
  token_hash     bytea PRIMARY KEY,
  kind           text NOT NULL CHECK (kind IN ('app', 'web')),
  message_id     text NOT NULL,
  identity_id    text NOT NULL,
  business_id    text NOT NULL,
  envelope_id    bigint,
  -- web: AES-256-GCM ciphertext whose key is only in the link's fragment
  ciphertext     bytea,
  expires_at     timestamptz NOT NULL,
  used_at        timestamptz,
  attempts       integer NOT NULL DEFAULT 0,
  otp_hash       bytea,
  otp_expires_at timestamptz,
  consented_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Advisory capability answers per pseudonymous recipient (HMAC of the phone number).
CREATE TABLE capability_cache (
  pseudonym   text NOT NULL,
  channel     text NOT NULL,
  reachable   boolean NOT NULL,
  end_to_end  boolean NOT NULL,
  features    text NOT NULL,
  source      text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (pseudonym, channel)
);

-- A customer's consent to receive messages through a non-end-to-end fallback.
CREATE TABLE fallback_consents (
  identity_id text PRIMARY KEY,
  granted_at  timestamptz NOT NULL DEFAULT now()
);

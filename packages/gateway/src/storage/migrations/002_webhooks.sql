-- Status webhooks: the event log and one delivery row per event and webhook URL.

-- Every state change of a bank's message, in commit order: events are appended under an
-- advisory lock (webhooks/events.ts), so `seq` order is commit order and a reader of
-- GET /v1/events?after=<seq> never skips an event that commits later with a smaller seq.
-- `id` (evt_...) is the webhook-id, `data` the event's JSON.
CREATE TABLE gateway_events (
  seq        bigserial PRIMARY KEY,
  id         text NOT NULL UNIQUE,
  message_id text NOT NULL,
  type       text NOT NULL,
  data       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_events_message ON gateway_events (message_id, seq);

-- Webhook deliveries (webhooks/dispatcher.ts): claimed by setting locked_until (no row lock
-- is held during the HTTP call), in order per (message_id, url), retried on a schedule
-- until delivered_at or given_up_at. last_error holds at most 200 characters, never a body.
CREATE TABLE gateway_webhook_deliveries (
  event_id     text NOT NULL REFERENCES gateway_events (id),
  url          text NOT NULL,
  message_id   text NOT NULL,
  seq          bigint NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  next_at      timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  delivered_at timestamptz,
  given_up_at  timestamptz,
  last_status  integer,
  last_error   text,
  PRIMARY KEY (event_id, url)
);
-- "Due": pending rows by next attempt time.
CREATE INDEX gateway_webhook_deliveries_due ON gateway_webhook_deliveries (next_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
-- "An earlier one is still pending" (the in-order check).
CREATE INDEX gateway_webhook_deliveries_pending ON gateway_webhook_deliveries (message_id, url, seq) WHERE delivered_at IS NULL AND given_up_at IS NULL;

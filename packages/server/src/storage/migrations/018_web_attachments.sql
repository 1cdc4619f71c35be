-- Attachments of web messages (customers without the app; routing/web-blobs.ts). The server
-- holds the references only sealed under the link's key (`manifest`, a second AES-256-GCM
-- part of the web message, handed out once with the text), the blob ids as grants, and the
-- SHA-256 of short-lived capabilities; never a key.

-- The sealed manifest (IV ‖ ciphertext ‖ tag), dropped when the link is opened, like `ciphertext`.
ALTER TABLE retrieval_tokens ADD COLUMN manifest bytea;

-- The capability `/v1/web/open` hands the page: it may GET the blobs granted to its web message
-- (blob_grants rows whose device_id is `web:<message id>`), until `expires_at`.
CREATE TABLE web_blob_capabilities (
  capability_hash bytea PRIMARY KEY,
  message_id      text NOT NULL,
  expires_at      timestamptz NOT NULL
);
CREATE INDEX web_blob_capabilities_by_expiry ON web_blob_capabilities (expires_at);

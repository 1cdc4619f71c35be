-- Business administration (admin API): a business can be disabled and enabled again.
-- While disabled_at is set, its enrollment tokens, its devices' new sessions and their
-- message submissions are refused (business_disabled).
ALTER TABLE businesses ADD COLUMN disabled_at timestamptz;

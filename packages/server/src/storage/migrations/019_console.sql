-- The operator console (console/): operator accounts, their sessions and what they did.

-- An operator: `viewer` reads every view, `admin` may also change things. The password is
-- kept only as an Argon2id PHC string (RFC 9106; console/passwords.ts). A disabled operator
-- cannot log in, and their sessions stop working at once.
CREATE TABLE operators (
  id            text PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('viewer', 'admin')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text,
  disabled_at   timestamptz
);

-- A console session: only the SHA-256 of the cookie's random token is stored (every node
-- accepts it); the CSRF token the page sends back on mutations; idle and absolute expiry.
CREATE TABLE console_sessions (
  token_hash   bytea PRIMARY KEY,
  operator_id  text NOT NULL REFERENCES operators (id),
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_by_operator ON console_sessions (operator_id);

-- Every admin action, with who did it (`operator_id` is null for the admin token's bootstrap).
CREATE TABLE operator_actions (
  id            bigserial PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT now(),
  operator_id   text,
  operator_name text NOT NULL,
  action        text NOT NULL,
  target        text
);
CREATE INDEX operator_actions_by_time ON operator_actions (at, id);

-- Server secrets are derived from the key directory's server.key (crypto/server-secrets.ts),
-- never kept in the database: a copy of the database or its WAL must not forge sessions.
DROP TABLE server_secrets;

-- This deployment's identity, made once at first start (deployment.ts): the default log
-- origins and NATS subject prefix are derived from it, so no two deployments share them.
CREATE TABLE deployment (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         text NOT NULL CHECK (id ~ '^[a-z0-9]{8,32}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

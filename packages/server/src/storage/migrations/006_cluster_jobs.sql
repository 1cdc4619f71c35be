-- Periodic work that must run once per interval across all nodes (the retention
-- sweep). A node claims a run by advancing `fence` when the last claim is older
-- than the interval on the database clock; the row lock serializes concurrent
-- claims, so exactly one node wins each interval. `fence` numbers the runs: a
-- node finishes only the run it claimed.
CREATE TABLE cluster_jobs (
  name        text PRIMARY KEY,
  fence       bigint NOT NULL DEFAULT 0,
  owner       text,
  claimed_at  timestamptz NOT NULL DEFAULT '-infinity',
  finished_at timestamptz
);

/**
 * What makes one deployment distinguishable from every other: the checkpoint origins
 * of its two transparency logs and the first token of its NATS subjects. Deployments
 * that shared the old fixed defaults confused each other (a monitor of one reported
 * `unannounced_key_change` against the next; a node on a shared NATS took another deployment's
 * node for a dead peer). So a value the operator did not set is derived from a random
 * deployment id, made once at first start and kept in the database, which every node
 * of the deployment shares. A log keeps the origin it was created with for life.
 */
import { randomBytes } from 'node:crypto';
import type { ServerConfig } from './config.js';
import type { Database } from './storage/database.js';

export interface DeploymentNames {
  /** Random, lower-case, made at first start. */
  readonly id: string;
  readonly keyLogOrigin: string;
  readonly auditLogOrigin: string;
  /** The first token of this deployment's NATS subjects (used only with NATS). */
  readonly natsPrefix: string;
}

function newDeploymentId(): string {
  // 60 bits as 12 base-32 digits: unique enough that two deployments never meet.
  return BigInt(`0x${randomBytes(8).toString('hex')}`).toString(32).slice(0, 12).padStart(12, '0');
}

/** This deployment's id, created race-free by whichever node starts first. */
export async function deploymentId(db: Database): Promise<string> {
  await db.query('INSERT INTO deployment (singleton, id) VALUES (true, $1) ON CONFLICT (singleton) DO NOTHING', [newDeploymentId()]);
  const [row] = await db.query<{ id: string }>('SELECT id FROM deployment WHERE singleton');
  return row!.id;
}

/** The origin a log already has in this database, if it exists. */
async function storedOrigin(db: Database, log: string): Promise<string | undefined> {
  const [row] = await db.query<{ origin: string }>('SELECT origin FROM tlogs WHERE name = $1', [log]);
  return row?.origin;
}

/**
 * The names this node uses: what the operator configured, else what the logs already
 * have, else derived from the deployment id (`parley-<id>.localhost/logs/keys`,
 * `parley.<id>` for NATS).
 */
export async function resolveDeploymentNames(db: Database, config: ServerConfig): Promise<DeploymentNames> {
  const id = await deploymentId(db);
  const derived = (log: string) => `parley-${id}.localhost/logs/${log}`;
  return {
    id,
    keyLogOrigin: config.tlog.origin ?? (await storedOrigin(db, 'keys')) ?? derived('keys'),
    auditLogOrigin: config.tlog.auditOrigin ?? (await storedOrigin(db, 'audit')) ?? derived('audit'),
    natsPrefix: config.nats?.subjectPrefix ?? `parley.${id}`,
  };
}

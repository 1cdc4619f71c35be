/**
 * Harness of the cluster tests: real `parley serve` processes (node + the CLI's
 * bin), the machine's PostgreSQL (a fresh schema per test, in the connection
 * URL) and NATS, or private PostgreSQL / NATS instances for tests that restart
 * them. Everything started here is registered for `cleanup()`, which tests call
 * in afterAll/afterEach so nothing outlives a failing test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, toBase64Url } from '@parley/core';
import { leafHash, openNote, parseCheckpoint, parseVerifierKey, rootOfLeaves } from '@parley/core/tlog';
import { PostgresDatabase } from '../../src/storage/postgres.js';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { spawnListening } from '@parley/test-kit/process';
import { freePort } from '@parley/emulators';
export { freePort };

export const BIN = new URL('../../../cli/bin/parley.js', import.meta.url).pathname;
export const MACHINE_PG = process.env['PARLEY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MACHINE_NATS = process.env['PARLEY_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const PG_BIN = '/usr/lib/postgresql/15/bin';
const NATS_BIN = '/usr/sbin/nats-server';

const cleanups: (() => Promise<void> | void)[] = [];

/** Runs every registered cleanup, newest first; never throws. */
export async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch {
      /* best effort */
    }
  }
}

export function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** Whether the machine's PostgreSQL and NATS answer (cluster tests skip otherwise). */
export async function machineServices(): Promise<{ ok: boolean; note: string }> {
  const pg = new URL(MACHINE_PG);
  const nats = new URL(MACHINE_NATS);
  const [p, n] = await Promise.all([reachable(pg.hostname, Number(pg.port || 5432)), reachable(nats.hostname, Number(nats.port || 4222))]);
  if (p && n) return { ok: true, note: '' };
  return { ok: false, note: `cluster tests skipped: ${!p ? `PostgreSQL at ${pg.host}` : ''}${!p && !n ? ' and ' : ''}${!n ? `NATS at ${nats.host}` : ''} unreachable` };
}


export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

// ----------------------------------------------------------------------------- PostgreSQL

/** A fresh schema in `baseUrl`'s database; returns a URL that selects it (dropped at cleanup). */
export async function freshSchema(baseUrl: string): Promise<{ url: string; schema: string }> {
  const schema = `c_${toBase64Url(randomBytes(9)).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
  const admin = new PostgresDatabase({ connectionString: baseUrl });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  await admin.close();
  cleanups.push(async () => {
    const a = new PostgresDatabase({ connectionString: baseUrl });
    await a.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await a.close();
  });
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), schema };
}

/** A database handle on a schema URL made by {@link freshSchema}. */
export function openSchema(baseUrl: string, schema: string): PostgresDatabase {
  return new PostgresDatabase({ connectionString: baseUrl, schema, maxConnections: 4 });
}

export interface PrivatePostgres {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A private PostgreSQL 15 cluster (initdb into a temp dir, trust auth, unix socket in
 * the dir), so a test can restart it without touching the machine's. As root it runs
 * as the `postgres` user. Undefined (with a note) when the binaries are missing.
 */
export async function privatePostgres(): Promise<PrivatePostgres | { note: string }> {
  if (!existsSync(join(PG_BIN, 'initdb')) || !existsSync(join(PG_BIN, 'postgres'))) return { note: `no PostgreSQL binaries in ${PG_BIN}` };
  const dir = tempDir('parley-pg-');
  // initdb and postgres refuse to run as root: as root, run them as the `postgres` user.
  const ids = process.getuid?.() === 0 ? { uid: Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()), gid: Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim()) } : undefined;
  if (ids && !(ids.uid > 0)) return { note: 'running as root and there is no postgres user' };
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const data = join(dir, 'data');
  const init = spawnSync(join(PG_BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], { encoding: 'utf8', cwd: dir, ...(ids ?? {}) });
  if (init.status !== 0) return { note: `initdb failed: ${(init.stderr ?? String(init.error)).slice(0, 200)}` };
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=100'];
    const c = spawn(join(PG_BIN, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...(ids ?? {}) });
    child = c;
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    await eventually(`private PostgreSQL on ${port} (${err})`, () => reachable('127.0.0.1', port, 200), 20_000, 50);
    // Accepting TCP is not accepting queries: wait for a real one.
    await eventually('private PostgreSQL ready', async () => {
      const db = new PostgresDatabase({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      try {
        await db.ping();
        return true;
      } finally {
        await db.close();
      }
    }, 20_000, 100);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGINT'); // fast shutdown: ends sessions, aborts transactions
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  cleanups.push(async () => {
    if (child) {
      child.kill('SIGKILL');
      await sleep(50);
    }
  });
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, start, stop };
}

// ----------------------------------------------------------------------------- NATS

export interface PrivateNats {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A private nats-server (JetStream on, store in a temp dir) on a free port. */
export async function privateNats(): Promise<PrivateNats | { note: string }> {
  if (!existsSync(NATS_BIN)) return { note: `no ${NATS_BIN}` };
  const dir = tempDir('parley-nats-');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const c = spawn(NATS_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    child = c;
    await eventually(`private NATS on ${port}`, () => reachable('127.0.0.1', port, 200), 10_000, 25);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
  };
  await start();
  cleanups.push(stop);
  return { url: `nats://127.0.0.1:${port}`, port, start, stop };
}

// ----------------------------------------------------------------------------- nodes

export interface NodeOptions {
  readonly databaseUrl: string;
  readonly keyDir: string;
  readonly natsUrl?: string;
  readonly natsPrefix?: string;
  readonly nodeId: string;
  readonly port?: number;
  readonly env?: Record<string, string>;
}

export interface ClusterNode {
  readonly nodeId: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it printed (stdout and stderr). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns `parley serve` on PostgreSQL (and NATS) and resolves once it listens. */
export async function startNode(o: NodeOptions): Promise<ClusterNode> {
  // Small pools: several nodes and other test files share the machine's PostgreSQL (max_connections 100).
  const args = [BIN, 'serve', '--database-url', o.databaseUrl, '--key-dir', o.keyDir, '--node-id', o.nodeId, '--port', String(o.port ?? 0), '--admin-token', ADMIN_TOKEN, '--log-level', 'warn', '--db-pool-size', '6'];
  if (o.natsUrl) args.push('--nats-url', o.natsUrl);
  if (o.natsPrefix) args.push('--nats-prefix', o.natsPrefix);
  const node = await spawnListening(args, { what: `node ${o.nodeId}`, ...(o.env ? { env: o.env } : {}) });
  cleanups.push(() => node.kill('SIGKILL'));
  return { nodeId: o.nodeId, ...node };
}

/** GET /readyz: status code and body. */
export async function readiness(url: string): Promise<{ status: number; body: { status?: string; reason?: string } }> {
  try {
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.json()) as { status?: string; reason?: string } };
  } catch (error) {
    return { status: 0, body: { reason: String(error) } };
  }
}

export function waitReady(url: string, timeoutMs = 20_000): Promise<true> {
  return eventually(`${url}/readyz`, async () => (await readiness(url)).status === 200, timeoutMs, 50);
}

// ----------------------------------------------------------------------------- log integrity

/**
 * Checks one transparency log from the database alone: nothing pending, indexes
 * 0..n-1 with no gap, every pending id sequenced once, the head's root recomputed
 * from the entries, and every checkpoint ever published signed by the key and the
 * root of a prefix of this tree (no fork), in non-decreasing size.
 */
export async function logIntegrity(db: PostgresDatabase, log: string, verifierKey: string): Promise<{ size: number; checkpoints: number; problems: string[] }> {
  const problems: string[] = [];
  const pending = await db.query<{ n: string }>('SELECT count(*) AS n FROM tlog_pending WHERE log = $1', [log]);
  if (Number(pending[0]!.n) !== 0) problems.push(`${pending[0]!.n} entries still pending`);
  const rows = await db.query<{ idx: string; entry: Uint8Array; pending_id: string }>('SELECT idx, entry, pending_id FROM tlog_entries WHERE log = $1 ORDER BY idx', [log]);
  rows.forEach((r, i) => {
    if (Number(r.idx) !== i) problems.push(`index ${r.idx} at position ${i}`);
  });
  if (new Set(rows.map((r) => r.pending_id)).size !== rows.length) problems.push('a pending entry was sequenced twice');
  const leaves = rows.map((r) => leafHash(new Uint8Array(r.entry)));
  const head = (await db.query<{ tree_size: string; root_hash: Uint8Array }>('SELECT tree_size, root_hash FROM tlogs WHERE name = $1', [log]))[0]!;
  if (Number(head.tree_size) !== rows.length) problems.push(`head size ${head.tree_size} but ${rows.length} entries`);
  if (!Buffer.from(head.root_hash).equals(Buffer.from(rootOfLeaves(leaves)))) problems.push('head root is not the root of the entries');
  const verifier = parseVerifierKey(verifierKey);
  const history = await db.query<{ tree_size: string; note: string }>('SELECT tree_size, note FROM tlog_checkpoints WHERE log = $1 ORDER BY id', [log]);
  let last = 0;
  const roots = new Map<number, string>();
  for (const h of history) {
    let size: number;
    let root: string;
    try {
      const cp = parseCheckpoint(openNote(h.note, [verifier]).text);
      size = cp.treeSize;
      root = Buffer.from(cp.rootHash).toString('hex');
    } catch (error) {
      problems.push(`checkpoint does not verify: ${String(error)}`);
      continue;
    }
    if (size < last) problems.push(`checkpoint history goes back from ${last} to ${size}`);
    last = size;
    if (size > rows.length) {
      problems.push(`checkpoint of size ${size} beyond the tree`);
      continue;
    }
    let expected = roots.get(size);
    if (expected === undefined) roots.set(size, (expected = Buffer.from(rootOfLeaves(leaves.slice(0, size))).toString('hex')));
    if (root !== expected) problems.push(`fork: checkpoint of size ${size} has another root`);
  }
  return { size: rows.length, checkpoints: history.length, problems };
}

/**
 * Hardening regressions: what Parley keeps on disk, and what tells deployments apart.
 *
 * - (issue item 3) the data and key directories are private (0700) and refused when others
 *   can read them; server secrets live in the key directory's server.key (0600), not in
 *   a database row;
 * - (item 11) a data directory is locked: a second server on it is refused, naming the pid;
 * - (item 14) two deployments never share a log origin or a NATS subject prefix by default,
 *   and a deployment keeps its own across restarts.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/index.js';
import { resolveConfig } from '../../src/config.js';
import { resolveDeploymentNames } from '../../src/deployment.js';
import { ENGINE, openTestDatabase, startTestServer } from '@parley/test-kit/server';

const silent = { level: 'silent' as const };
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

// The embedded data directory exists only with PGlite; the PostgreSQL leg has none to check (the PGlite leg runs these).
if (ENGINE !== 'pglite') console.log('files-and-deployments: the embedded data directory tests skipped on PostgreSQL (no data directory; the PGlite leg runs them)');
describe.runIf(ENGINE === 'pglite')('the embedded data directory', () => {
  // One directory through its life: two real starts (PGlite is slow to open), the refusals
  // in between cost nothing (they happen before the database opens).
  const dataDir = () => join(root, 'life', 'data');
  let origins: string[] = [];

  it('is created 0700 with its keys 0600, keeps no server secret in the database, and is locked while in use', async () => {
    const server = await startServer({ database: { kind: 'pglite', dataDir: dataDir() }, log: silent });
    try {
      expect(await mode(dataDir())).toBe('700');
      const keys = join(dataDir(), 'keys');
      expect(await mode(keys)).toBe('700');
      for (const file of await readdir(keys)) {
        if (file.endsWith('.key')) expect([file, await mode(join(keys, file))]).toEqual([file, '600']);
      }
      expect(await readdir(keys)).toContain('server.key');
      const tables = await server.db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_name LIKE '%secret%'");
      expect(tables).toEqual([]);
      origins = [server.keyLog.origin, server.auditLog.origin];
      // A second server on the same directory is refused, naming the holder.
      await expect(startServer({ database: { kind: 'pglite', dataDir: dataDir() }, log: silent })).rejects.toMatchObject({
        code: 'data_dir_locked',
        message: expect.stringContaining(`pid ${process.pid}`),
      });
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('takes over a stale lock, and keeps its derived log origins across the restart', async () => {
    // A lock left by a process that is gone (a crash) does not keep the directory shut.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    await writeFile(join(dataDir(), 'parley.lock'), `${dead.pid}\n1\n`, { mode: 0o600 });
    const server = await startServer({ database: { kind: 'pglite', dataDir: dataDir() }, log: silent });
    try {
      expect([server.keyLog.origin, server.auditLog.origin]).toEqual(origins);
    } finally {
      await server.stop();
    }
  }, 120_000);

  it('refuses a data directory or key directory that others can read, and a readable key file', async () => {
    const start = () => startServer({ database: { kind: 'pglite', dataDir: dataDir() }, log: silent });
    const keys = join(dataDir(), 'keys');
    await chmod(dataDir(), 0o755);
    await expect(start()).rejects.toMatchObject({ code: 'private_dir_mode' });
    await chmod(dataDir(), 0o700);
    await chmod(keys, 0o750);
    await expect(start()).rejects.toMatchObject({ code: 'private_dir_mode' });
    await chmod(keys, 0o700);
    for (const file of ['vrf.key', 'server.key', 'tlog-keys.key']) {
      await chmod(join(keys, file), 0o644);
      await expect(start()).rejects.toMatchObject({ code: 'private_file_mode', message: expect.stringContaining(file) });
      await chmod(join(keys, file), 0o600);
    }
  });
});

describe('deployments are told apart', () => {
  it('derives log origins and a NATS subject prefix per deployment, the same on every node of one; explicit names win', async () => {
    const one = await openTestDatabase();
    const two = await openTestDatabase();
    try {
      const config = resolveConfig({ nats: { url: 'nats://127.0.0.1:4222' } });
      const [a1, a2, b] = await Promise.all([resolveDeploymentNames(one.db, config), resolveDeploymentNames(one.db, config), resolveDeploymentNames(two.db, config)]);
      expect(a1.keyLogOrigin).toMatch(/^parley-[a-z0-9]{12}\.localhost\/logs\/keys$/);
      expect(a1.auditLogOrigin).toMatch(/^parley-[a-z0-9]{12}\.localhost\/logs\/audit$/);
      expect(a1.natsPrefix).toMatch(/^parley\.[a-z0-9]{12}$/);
      expect(a2).toEqual(a1);
      expect([b.keyLogOrigin, b.auditLogOrigin, b.natsPrefix]).not.toContain(a1.keyLogOrigin);
      expect(b.natsPrefix).not.toBe(a1.natsPrefix);
      expect(b.keyLogOrigin).not.toBe(a1.keyLogOrigin);
      const explicit = resolveConfig({ nats: { url: 'nats://x', subjectPrefix: 'bank.prod' }, tlog: { origin: 'parley.example.test/logs/keys' } });
      const named = await resolveDeploymentNames(one.db, explicit);
      expect([named.natsPrefix, named.keyLogOrigin]).toEqual(['bank.prod', 'parley.example.test/logs/keys']);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('a server with no names configured serves its deployment-derived origins', async () => {
    const t = await startTestServer();
    try {
      const listing = (await fetch(`${t.url}/v1/logs`).then((r) => r.json())) as { logs: { origin: string }[] };
      expect(listing.logs.map((l) => l.origin)).toEqual([t.server.keyLog.origin, t.server.auditLog.origin]);
      expect(t.server.keyLog.origin).toMatch(/^parley-[a-z0-9]{12}\.localhost\/logs\/keys$/);
    } finally {
      await t.stop();
    }
  });
});

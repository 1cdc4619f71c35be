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
import { ENGINE, openTestDatabase, startTestServer } from '../helpers.js';

const silent = { level: 'silent' as const };
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

describe.runIf(ENGINE === 'pglite')('the embedded data directory', () => {
  it('is created 0700 with its keys 0600, and keeps no server secret in the database', async () => {
    const dataDir = join(root, 'fresh', 'data');
    const server = await startServer({ database: { kind: 'pglite', dataDir }, log: silent });
    try {
      expect(await mode(dataDir)).toBe('700');
      expect(await mode(join(dataDir, 'keys'))).toBe('700');
      for (const file of await readdir(join(dataDir, 'keys'))) {
        if (file.endsWith('.key')) expect([file, await mode(join(dataDir, 'keys', file))]).toEqual([file, '600']);
      }
      expect(await readdir(join(dataDir, 'keys'))).toContain('server.key');
      const tables = await server.db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_name LIKE '%secret%'");
      expect(tables).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('refuses a data directory or key directory that others can read, and a readable VRF key', async () => {
    const open = join(root, 'open');
    await startServer({ database: { kind: 'pglite', dataDir: open }, log: silent }).then((s) => s.stop());
    await chmod(open, 0o755);
    await expect(startServer({ database: { kind: 'pglite', dataDir: open }, log: silent })).rejects.toMatchObject({ code: 'private_dir_mode' });
    await chmod(open, 0o700);
    await chmod(join(open, 'keys'), 0o750);
    await expect(startServer({ database: { kind: 'pglite', dataDir: open }, log: silent })).rejects.toMatchObject({ code: 'private_dir_mode' });
    await chmod(join(open, 'keys'), 0o700);
    await chmod(join(open, 'keys', 'vrf.key'), 0o644);
    await expect(startServer({ database: { kind: 'pglite', dataDir: open }, log: silent })).rejects.toMatchObject({ code: 'private_file_mode' });
    await chmod(join(open, 'keys', 'vrf.key'), 0o600);
    await startServer({ database: { kind: 'pglite', dataDir: open }, log: silent }).then((s) => s.stop());
  });

  it('is locked while a server uses it; a stale lock is taken over', async () => {
    const dataDir = join(root, 'locked');
    const first = await startServer({ database: { kind: 'pglite', dataDir }, log: silent });
    try {
      await expect(startServer({ database: { kind: 'pglite', dataDir }, log: silent })).rejects.toMatchObject({
        code: 'data_dir_locked',
        message: expect.stringContaining(`pid ${process.pid}`),
      });
    } finally {
      await first.stop();
    }
    // A lock left by a process that is gone (a crash) does not keep the directory shut.
    const dead = spawn(process.execPath, ['-e', '0']);
    await new Promise((r) => dead.once('exit', r));
    await writeFile(join(dataDir, 'parley.lock'), `${dead.pid}\n1\n`, { mode: 0o600 });
    await startServer({ database: { kind: 'pglite', dataDir }, log: silent }).then((s) => s.stop());
  });

  it('keeps its derived log origins across restarts', async () => {
    const dataDir = join(root, 'restart');
    const a = await startServer({ database: { kind: 'pglite', dataDir }, log: silent });
    const origins = [a.keyLog.origin, a.auditLog.origin];
    await a.stop();
    const b = await startServer({ database: { kind: 'pglite', dataDir }, log: silent });
    expect([b.keyLog.origin, b.auditLog.origin]).toEqual(origins);
    await b.stop();
  });
});

describe('deployments are told apart', () => {
  it('derives log origins unique to each deployment (and keeps an explicit one)', async () => {
    const a = await startTestServer();
    const b = await startTestServer();
    const c = await startTestServer({ tlog: { origin: 'parley.example.test/logs/keys' } });
    try {
      expect(a.server.keyLog.origin).toMatch(/^parley-[a-z0-9]{12}\.localhost\/logs\/keys$/);
      expect(a.server.keyLog.origin).not.toBe(b.server.keyLog.origin);
      expect(a.server.auditLog.origin).not.toBe(b.server.auditLog.origin);
      expect(c.server.keyLog.origin).toBe('parley.example.test/logs/keys');
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  });

  it('derives a NATS subject prefix per deployment, the same on every node of one', async () => {
    const one = await openTestDatabase();
    const two = await openTestDatabase();
    try {
      const config = resolveConfig({ nats: { url: 'nats://127.0.0.1:4222' } });
      const [a1, a2, b] = await Promise.all([resolveDeploymentNames(one.db, config), resolveDeploymentNames(one.db, config), resolveDeploymentNames(two.db, config)]);
      expect(a1.natsPrefix).toMatch(/^parley\.[a-z0-9]{12}$/);
      expect(a2.natsPrefix).toBe(a1.natsPrefix);
      expect(b.natsPrefix).not.toBe(a1.natsPrefix);
      expect((await resolveDeploymentNames(one.db, resolveConfig({ nats: { url: 'nats://x', subjectPrefix: 'bank.prod' } }))).natsPrefix).toBe('bank.prod');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

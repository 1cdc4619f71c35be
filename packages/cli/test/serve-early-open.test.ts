/**
 * `parley serve` opens the embedded database before it loads the server's modules (start-up,
 * issue 18). When the start then fails — a routing file that cannot be read, a key directory
 * others can read — the early database is closed: the data directory's lock is released (a
 * second start can take it) and no worker keeps the process alive.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lockDataDir } from '@parley/server';
import { runServe } from '../src/commands/serve.js';
import { UsageError } from '../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-early-open-'));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterAll(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('parley serve: the early embedded database', () => {
  it('is closed and its lock released when the routing file cannot be read', async () => {
    const dataDir = join(dir, 'routing');
    const failure = await runServe(['--port', '0', '--data-dir', dataDir, '--log-level', 'silent', '--routing', join(dir, 'missing.json')]).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UsageError);
    expect(String(failure)).toMatch(/cannot read the routing config/);
    // The lock is free again: this would fail with data_dir_locked naming our own pid.
    const lock = await lockDataDir(dataDir);
    await lock.release();
  });

  it('is closed and its lock released when the server refuses its key directory', async () => {
    const dataDir = join(dir, 'keys');
    const keyDir = join(dir, 'open-keys');
    await mkdir(keyDir, { recursive: true });
    await writeFile(join(keyDir, 'admin-token'), 'a-token-of-sufficient-length\n', { mode: 0o600 });
    await chmod(keyDir, 0o755);
    const failure = await runServe(['--port', '0', '--data-dir', dataDir, '--key-dir', keyDir, '--admin-token', 'a-token-of-sufficient-length', '--log-level', 'silent']).catch((e: unknown) => e);
    expect(String(failure)).toMatch(/key directory .* is open to other users/);
    const lock = await lockDataDir(dataDir);
    await lock.release();
  });
});

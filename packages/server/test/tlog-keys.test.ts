/**
 * The log's signing key file: created once with mode 0600, reused, never readable by
 * others, never for another origin, never written to a log line; and a server started
 * with a key directory keeps signing the same log across restarts.
 */
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { generateSignerKey, openNote, parseVerifierKey } from '@parley/core/tlog';
import { keyFilePaths, loadLogSigner } from '../src/tlog/index.js';
import { api, startTestServer } from '@parley/test-kit/server';

const ORIGIN = 'keys.test/logs/keys';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-keys-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString('utf8'));
        cb();
      },
    }),
  );
  return { log, lines };
}

describe('tlog signing key file', () => {
  it('creates the key with mode 0600 on first start and reuses it', async () => {
    const sub = join(dir, 'a');
    const { log, lines } = capture();
    const first = await loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log });
    const paths = keyFilePaths(sub, 'keys');
    expect((await stat(paths.key)).mode & 0o777).toBe(0o600);
    expect((await stat(sub)).mode & 0o777).toBe(0o700);
    expect((await readFile(paths.verifierKey, 'utf8')).trim()).toBe(first.verifierKey);
    const again = await loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log });
    expect(again.verifierKey).toBe(first.verifierKey);
    const secret = (await readFile(paths.key, 'utf8')).trim();
    expect(secret.startsWith('PRIVATE+KEY+keys.test/logs/keys+')).toBe(true);
    const seedText = secret.split('+').slice(4).join('+'); // PRIVATE+KEY+<name>+<id>+<base64, may hold '+'>
    expect(seedText).toHaveLength(44);
    expect(lines.join('\n')).not.toContain(seedText);
    expect(lines.join('\n')).not.toContain('PRIVATE+KEY');
    expect(lines.some((l) => l.includes('created the transparency log signing key'))).toBe(true);
  });

  it('creates exactly one key when several nodes start at once', async () => {
    const sub = join(dir, 'race');
    const { log } = capture();
    const signers = await Promise.all(Array.from({ length: 8 }, () => loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log })));
    expect(new Set(signers.map((s) => s.verifierKey)).size).toBe(1);
  });

  it('refuses a key file others can read, one for another origin, and garbage', async () => {
    const { log } = capture();
    const sub = join(dir, 'b');
    await loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log });
    const { key } = keyFilePaths(sub, 'keys');
    await chmod(key, 0o644);
    await expect(loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log })).rejects.toMatchObject({ code: 'tlog_key_file_mode' });
    await chmod(key, 0o600);
    await expect(loadLogSigner({ dir: sub, logName: 'keys', origin: 'other.test/logs/keys', log })).rejects.toMatchObject({ code: 'tlog_key_origin_mismatch' });
    await writeFile(key, 'PRIVATE+KEY+not-a-key\n', { mode: 0o600 });
    const error = await loadLogSigner({ dir: sub, logName: 'keys', origin: ORIGIN, log }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'tlog_bad_key' });
    expect(JSON.stringify(error)).not.toContain('not-a-key');
  });

  it('uses an ephemeral key without a directory, and says so', async () => {
    const { log, lines } = capture();
    const signer = await loadLogSigner({ dir: undefined, logName: 'keys', origin: ORIGIN, log });
    expect(parseVerifierKey(signer.verifierKey).name).toBe(ORIGIN);
    expect(lines.join('\n')).toContain('EPHEMERAL');
    expect(lines.join('\n')).not.toContain('PRIVATE+KEY');
  });

  it('keeps signing the same log across a server restart with a key directory', async () => {
    const dataDir = join(dir, 'server-data');
    const keysDir = join(dir, 'server-keys');
    const start = () => startTestServer({ database: { kind: 'pglite', dataDir }, keys: { dir: keysDir }, tlog: { origin: ORIGIN } });
    let t = await start();
    const vkey = t.server.keyLog.verifierKey;
    const id = await t.server.keyLog.appendNow(new TextEncoder().encode('entry before restart'));
    await t.server.keyLog.waitSequenced(id);
    const before = await t.server.keyLog.latestCheckpoint();
    await t.stop();
    t = await start();
    try {
      expect(t.server.keyLog.verifierKey).toBe(vkey);
      expect(await t.server.keyLog.latestCheckpoint()).toEqual(before);
      const res = await fetch(`${t.url}/logs/keys/checkpoint`);
      openNote(await res.text(), [parseVerifierKey(vkey)]);
      expect((await api(t.url, 'GET', '/v1/logs')).body.logs[0].verifierKey).toBe(vkey);
    } finally {
      await t.stop();
    }
    // A different key for the same stored log: the server refuses to start.
    await writeFile(keyFilePaths(keysDir, 'keys').key, `${generateSignerKey(ORIGIN).signerKey}\n`, { mode: 0o600 });
    await expect(start()).rejects.toMatchObject({ code: 'tlog_key_mismatch' });
  });
});

/**
 * `parley serve --allowed-origins` / `PARLEY_ALLOWED_ORIGINS`: the list is parsed and
 * normalised as the server does; a bad entry (wildcard, path, no scheme) is a usage error
 * before anything is created on disk; the flag wins over the environment; and the list
 * reaches the server (a real `runServe` answers an allowed origin's preflight).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseAllowedOrigins, runServe } from '../src/commands/serve.js';
import { UsageError } from '../src/errors.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-origins-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('parseAllowedOrigins', () => {
  it('splits, trims, normalises and removes duplicates; absent or empty means none', () => {
    expect(parseAllowedOrigins(undefined)).toEqual([]);
    expect(parseAllowedOrigins('')).toEqual([]);
    expect(parseAllowedOrigins(' https://App.Bank.example:443 , http://localhost:5173,,https://app.bank.example')).toEqual([
      'https://app.bank.example',
      'http://localhost:5173',
    ]);
  });

  it.each(['bad', '*', 'https://*.bank.example', 'https://app.bank.example/', 'https://app.bank.example/app', 'https://ok.example,ftp://x.example'])('refuses %s as a usage error', (value) => {
    expect(() => parseAllowedOrigins(value)).toThrow(UsageError);
  });
});

describe('parley serve', () => {
  it('--allowed-origins bad fails with a usage error before creating the data directory', async () => {
    const dataDir = join(dir, 'never-created');
    await expect(runServe(['--allowed-origins', 'bad', '--data-dir', dataDir])).rejects.toThrow(/--allowed-origins/);
    await expect(runServe(['--allowed-origins', 'bad', '--data-dir', dataDir])).rejects.toBeInstanceOf(UsageError);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('reads PARLEY_ALLOWED_ORIGINS; the flag wins over it', async () => {
    vi.stubEnv('PARLEY_ALLOWED_ORIGINS', '*');
    await expect(runServe(['--data-dir', join(dir, 'env')])).rejects.toThrow(/--allowed-origins: .*wildcard/);
    // A good flag: the bad environment value is not read, and the next check (a later usage error) is reached.
    await expect(runServe(['--allowed-origins', 'https://app.bank.example', '--data-dir', join(dir, 'a'), '--database-url', 'postgres://x'])).rejects.toThrow(
      /either --data-dir or --database-url/,
    );
  });

  it('passes the list to the server: an allowed origin gets its preflight, another is refused', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const running = runServe(['--port', '0', '--data-dir', join(dir, 'served'), '--log-level', 'silent', '--allowed-origins', 'https://App.Bank.example']);
    let url: string | undefined;
    for (let i = 0; i < 600 && url === undefined; i++) {
      url = /parley listening on (http:\/\/\S+)/.exec(out.join(''))?.[1];
      if (url === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(url).toBeDefined();
    try {
      const preflight = (origin: string) => fetch(`${url}/v1/auth/challenge`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      const allowed = await preflight('https://app.bank.example');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.bank.example');
      expect((await preflight('https://other.example')).status).toBe(403);
    } finally {
      process.emit('SIGTERM');
    }
    expect(await running).toBe(0);
  }, 120_000);
});

/**
 * Cross-origin access (http/cors.ts) on a real server over loopback, plain fetch and the
 * `ws` client: an allowed origin gets CORS headers and preflights; any other origin gets
 * none, its preflights, state-changing requests and WebSocket upgrades are refused with
 * 403 `origin_not_allowed` before a handler runs; requests without `Origin` and from the
 * server's own origin are unaffected. The configuration refuses wildcards and paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { newDeviceId } from '@parley/core';
import { resolveConfig, startServer } from '../../src/index.js';
import { CORS_ALLOW_HEADERS, CORS_ALLOW_METHODS, CORS_MAX_AGE_SECONDS } from '../../src/http/cors.js';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const ALLOWED = 'https://app.bank.example';
const OTHER = 'https://evil.example';
let t: TestServer;

beforeAll(async () => {
  // Written unnormalised on purpose: the server compares the browser's serialisation.
  t = await startTestServer({ allowedOrigins: ['HTTPS://App.Bank.Example:443', 'http://127.0.0.1:5173'] });
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

const challenge = (origin?: string, contentType = 'application/json') =>
  fetch(`${t.url}/v1/auth/challenge`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...(origin ? { origin } : {}) },
    body: JSON.stringify({ deviceId: newDeviceId() }),
  });

const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

/**
 * Upgrade answer of /v1/ws: `open`, or the HTTP status the server refused it with, once the
 * server has closed the refused connection (the client never closes it: a refused upgrade
 * left open would hold the server's shutdown).
 */
function upgrade(origin?: string): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/v1/ws`, origin ? { origin } : {});
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      const socket = res.socket;
      if (socket === null) resolve(res.statusCode ?? 0);
      else socket.once('close', () => resolve(res.statusCode ?? 0));
    });
    ws.on('error', (error) => reject(error));
  });
}

describe('configuration', () => {
  it('normalises origins (lowercase, default port dropped, duplicates removed) and defaults to none', () => {
    expect(resolveConfig({}).allowedOrigins).toEqual([]);
    expect(resolveConfig({ allowedOrigins: ['HTTPS://App.Bank.Example:443', 'https://app.bank.example', 'http://x.example:8080'] }).allowedOrigins).toEqual([
      'https://app.bank.example',
      'http://x.example:8080',
    ]);
  });

  it.each(['*', 'https://*.bank.example', 'https://app.bank.example/', 'https://app.bank.example/path', 'app.bank.example', 'ftp://app.bank.example', 'https://u:p@app.bank.example', 'https://app.bank.example?x=1', 'null'])(
    'refuses %s with invalid_config',
    (origin) => {
      expect(() => resolveConfig({ allowedOrigins: [origin] })).toThrow(expect.objectContaining({ code: 'invalid_config' }));
    },
  );

  it('refuses to start with a wildcard', async () => {
    await expect(startServer({ allowedOrigins: ['*'], log: { level: 'silent' } })).rejects.toMatchObject({ code: 'invalid_config' });
  });
});

describe('HTTP', () => {
  it('an allowed origin gets its own origin back, Vary and the exposed headers; the request runs', async () => {
    const res = await challenge(ALLOWED);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/Retry-After/i);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(((await res.json()) as { challenge: string }).challenge).toBeTruthy();
  });

  it('error answers to an allowed origin carry the CORS headers too (the page can read the code)', async () => {
    const res = await fetch(`${t.url}/v1/no-such-endpoint`, { headers: { origin: ALLOWED } });
    expect(res.status).toBe(404);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(await errorCode(res)).toBe('not_found');
  });

  it('a route that sets its own Vary keeps it and gains Origin', async () => {
    const res = await fetch(`${t.url}/logs/keys/tile/0/000`, { headers: { origin: ALLOWED, 'accept-encoding': 'gzip' } });
    const vary = res.headers.get('vary') ?? '';
    if (res.status === 200) expect(vary.toLowerCase()).toContain('accept-encoding');
    expect(vary).toMatch(/\bOrigin\b/);
  });

  it('a preflight from an allowed origin: 204 with methods, headers and max-age', async () => {
    const res = await fetch(`${t.url}/v1/auth/challenge`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-methods')).toBe(CORS_ALLOW_METHODS);
    expect(res.headers.get('access-control-allow-headers')).toBe(CORS_ALLOW_HEADERS);
    expect(res.headers.get('access-control-max-age')).toBe(String(CORS_MAX_AGE_SECONDS));
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
    for (const h of ['authorization', 'content-type', 'idempotency-key']) expect(CORS_ALLOW_HEADERS.toLowerCase()).toContain(h);
    for (const m of ['GET', 'POST', 'PUT', 'DELETE']) expect(CORS_ALLOW_METHODS).toContain(m);
  });

  it('a preflight from another origin: 403 origin_not_allowed, no CORS headers', async () => {
    const res = await fetch(`${t.url}/v1/auth/challenge`, { method: 'OPTIONS', headers: { origin: OTHER, 'access-control-request-method': 'POST' } });
    expect(res.status).toBe(403);
    expect(await errorCode(res)).toBe('origin_not_allowed');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a GET from another origin is answered without CORS headers (the browser withholds it)', async () => {
    const res = await fetch(`${t.url}/healthz`, { headers: { origin: OTHER } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
  });

  it('a state-changing request from another origin is refused before the handler ("simple" POST and JSON alike)', async () => {
    const before = await t.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_challenges');
    for (const type of ['text/plain', 'application/json']) {
      const res = await challenge(OTHER, type);
      expect(res.status).toBe(403);
      expect(await errorCode(res)).toBe('origin_not_allowed');
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    const nullOrigin = await challenge('null');
    expect(nullOrigin.status).toBe(403);
    const after = await t.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_challenges');
    expect(after[0]!.n).toBe(before[0]!.n);
  });

  it('requests without Origin and from the server own origin are unaffected', async () => {
    const none = await challenge();
    expect(none.status).toBe(200);
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
    const own = await challenge(new URL(t.url).origin);
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('WebSocket', () => {
  it('an upgrade from another origin is refused with HTTP 403; allowed, own and absent Origin open', async () => {
    expect(await upgrade(OTHER)).toBe(403);
    expect(await upgrade('null')).toBe(403);
    expect(await upgrade(ALLOWED)).toBe('open');
    expect(await upgrade('http://127.0.0.1:5173')).toBe('open');
    expect(await upgrade(new URL(t.url).origin)).toBe('open');
    expect(await upgrade()).toBe('open');
  });
});

/**
 * The console's limits over real HTTP, on a server with short settings: failed logins per
 * operator name and per client address (429 `login_rate_limited`, other loopback addresses as
 * other clients), the idle and absolute session expiry, and the `Secure` cookie when the
 * configuration says the console is behind TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { resolveConfig } from '../../src/config.js';
import { ConsoleClient, bootstrapAdmin, setCookies } from './auth-client.js';

let t: TestServer;
const PASSWORD = 'correct horse battery staple';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Idle and absolute session lifetimes of this server, in seconds. */
const IDLE_S = 2;
const MAX_S = 5;

beforeAll(async () => {
  t = await startTestServer({ console: { loginAttempts: 3, loginWindowSeconds: 900, sessionIdleSeconds: IDLE_S, sessionMaxSeconds: MAX_S, secureCookies: true } });
  const admin = await bootstrapAdmin(t.url, 'root', PASSWORD);
  for (const name of ['alice', 'bob', 'carol']) {
    // A fresh session for each: the sessions of this server end within seconds.
    await admin.login('root', PASSWORD);
    expect((await admin.call('POST', 'operators', { name, password: PASSWORD, role: 'viewer' })).status).toBe(201);
  }
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('console limits', () => {
  it('defaults to 10 failed logins per 15 minutes, 30 min idle and 12 h sessions', () => {
    const { console: settings } = resolveConfig({});
    expect(settings).toMatchObject({ enabled: true, loginAttempts: 10, loginWindowSeconds: 900, sessionIdleSeconds: 1800, sessionMaxSeconds: 43_200, secureCookies: false });
  });

  it('marks the cookie Secure when configured', async () => {
    const res = await new ConsoleClient(t.url).login('carol', PASSWORD);
    expect(res.status).toBe(200);
    expect(setCookies(res)[0]!.split('; ')).toContain('Secure');
  });

  it('ends a session left idle, and one past its absolute lifetime however busy', async () => {
    const idle = new ConsoleClient(t.url);
    expect((await idle.login('carol', PASSWORD)).status).toBe(200);
    expect((await idle.call('GET', 'session')).status).toBe(200);
    await sleep(IDLE_S * 1000 + 500);
    const expired = await idle.call('GET', 'session');
    expect([expired.status, expired.body.code]).toEqual([401, 'console_session_expired']);
    // Forgotten once seen expired.
    expect((await idle.call('GET', 'session')).body.code).toBe('console_session_required');

    const busy = new ConsoleClient(t.url, '127.0.0.5');
    expect((await busy.login('carol', PASSWORD)).status).toBe(200);
    const started = Date.now();
    const answers: string[] = [];
    while (Date.now() - started < MAX_S * 1000 + 3_000) {
      const res = await busy.call('GET', 'session');
      answers.push(res.status === 200 ? 'ok' : res.body.code);
      if (res.status !== 200) break;
      await sleep(300);
    }
    // Used every 0.3 s (never idle for its 2 s), it still ends after its 5 s.
    expect(answers.at(-1)).toBe('console_session_expired');
    expect(answers.filter((a) => a === 'ok').length).toBeGreaterThanOrEqual(8);
    expect(Date.now() - started).toBeGreaterThanOrEqual(MAX_S * 1000 - 1_000);
  }, 30_000);

  it('limits failed logins per name (from any address) and per address (for any name)', async () => {
    const from1 = (name: string, password = 'wrong password here') => new ConsoleClient(t.url, '127.0.0.1').login(name, password);
    const from2 = (name: string, password = 'wrong password here') => new ConsoleClient(t.url, '127.0.0.2').login(name, password);
    // A success gives its attempt back: logins that work never add up.
    for (let i = 0; i < 4; i++) expect((await from2('bob', PASSWORD)).status).toBe(200);

    for (let i = 0; i < 3; i++) expect((await from1('alice')).body.code).toBe('login_failed');
    const limited = await from1('alice', PASSWORD);
    expect([limited.status, limited.body.code]).toEqual([429, 'login_rate_limited']);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(setCookies(limited)).toEqual([]);
    // The name is limited from another address too, even with the right password …
    expect((await from2('alice', PASSWORD)).body.code).toBe('login_rate_limited');
    // … while another name from that address is not; and from the first address every name is.
    expect((await from2('bob', PASSWORD)).status).toBe(200);
    expect((await from1('bob', PASSWORD)).body.code).toBe('login_rate_limited');
  });
});

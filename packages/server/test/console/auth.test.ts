/**
 * The console's accounts and sessions over real HTTP: the first admin by the admin token
 * (once), login with one answer for a wrong name and a wrong password, the session cookie's
 * attributes and what the database keeps of it, logout, CSRF (header and Origin), roles, and
 * operators created and disabled by an admin.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { ConsoleClient, raw, setCookies } from './auth-client.js';

let t: TestServer;
const PASSWORD = 'correct horse battery staple';
/** A listed origin (CORS lets it through) that is not the console's own. */
const LISTED_ORIGIN = 'https://app.bank.example';

beforeAll(async () => {
  t = await startTestServer({ allowedOrigins: [LISTED_ORIGIN] });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const bootstrap = (body: unknown, token: string | null = ADMIN_TOKEN) =>
  raw(t.url, '/console/api/bootstrap', { method: 'POST', body, headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('console accounts', () => {
  let admin: ConsoleClient;

  it('makes the first admin with the admin token, once', async () => {
    expect((await raw(t.url, '/console/api/status')).body).toEqual({ bootstrapped: false });
    const wrong = await bootstrap({ name: 'root', password: PASSWORD }, 'not-the-admin-token');
    expect([wrong.status, wrong.body.code, wrong.body.error.code]).toEqual([401, 'admin_token_invalid', 'admin_token_invalid']);
    const none = await bootstrap({ name: 'root', password: PASSWORD }, null);
    expect([none.status, none.body.code]).toEqual([401, 'admin_token_invalid']);
    const weak = await bootstrap({ name: 'root', password: 'short pass' });
    expect([weak.status, weak.body.code]).toEqual([400, 'weak_password']);
    expect((await raw(t.url, '/console/api/status')).body).toEqual({ bootstrapped: false });

    const made = await bootstrap({ name: 'Root', password: PASSWORD });
    expect(made.status).toBe(201);
    expect(made.body.operator).toMatchObject({ id: expect.stringMatching(/^op_/), name: 'root', role: 'admin', disabledAt: null });
    const again = await bootstrap({ name: 'second', password: PASSWORD });
    expect([again.status, again.body.code]).toEqual([409, 'operators_exist']);
    expect((await raw(t.url, '/console/api/status')).body).toEqual({ bootstrapped: true });

    // Only an Argon2id PHC string is stored, with OWASP's parameters and a 16-byte salt.
    const [row] = await t.server.db.query<{ password_hash: string }>('SELECT password_hash FROM operators WHERE name = $1', ['root']);
    expect(row!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(row!.password_hash).not.toContain(PASSWORD);
  });

  it('logs in with a session cookie (HttpOnly, SameSite=Strict, Path=/console; not Secure on plain http), stored only hashed', async () => {
    admin = new ConsoleClient(t.url);
    const res = await admin.login('root', PASSWORD);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ operator: { id: expect.stringMatching(/^op_/), name: 'root', role: 'admin' }, csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expiresAt: expect.any(String) });
    const expiresIn = Date.parse(res.body.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(29 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(30 * 60_000 + 5_000);
    const [cookie] = setCookies(res);
    const attributes = cookie!.split(';').map((p) => p.trim());
    expect(attributes[0]).toMatch(/^parley_console=[A-Za-z0-9_-]{43}$/);
    expect(attributes).toEqual(expect.arrayContaining(['Path=/console', 'HttpOnly', 'SameSite=Strict']));
    expect(attributes).not.toContain('Secure');
    expect(res.headers['cache-control']).toBe('no-store');

    const token = attributes[0]!.slice('parley_console='.length);
    const rows = await t.server.db.query<{ token_hash: Uint8Array; csrf_token: string }>('SELECT token_hash, csrf_token FROM console_sessions');
    const sha = createHash('sha256').update(Buffer.from(token, 'base64url')).digest();
    expect(rows.some((r) => Buffer.from(r.token_hash).equals(sha))).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(token);

    const session = await admin.call('GET', 'session');
    expect(session.status).toBe(200);
    expect(session.body).toEqual({ operator: res.body.operator, csrfToken: res.body.csrfToken, expiresAt: expect.any(String) });
  });

  it('answers a wrong password and an unknown name the same way', async () => {
    const wrongPassword = await new ConsoleClient(t.url).login('root', 'not the password at all');
    const unknownName = await new ConsoleClient(t.url).login('nobody', PASSWORD);
    expect([wrongPassword.status, wrongPassword.body.code]).toEqual([401, 'login_failed']);
    expect(unknownName.body).toEqual(wrongPassword.body);
    expect(unknownName.status).toBe(401);
    expect(setCookies(wrongPassword)).toEqual([]);
  });

  it('refuses the API without a session', async () => {
    for (const path of ['session', 'operators', 'businesses', 'actions']) {
      const none = await raw(t.url, `/console/api/${path}`);
      expect([path, none.status, none.body.code]).toEqual([path, 401, 'console_session_required']);
    }
    const forged = await raw(t.url, '/console/api/session', { headers: { cookie: `parley_console=${'A'.repeat(43)}` } });
    expect([forged.status, forged.body.code]).toEqual([401, 'console_session_required']);
  });

  it('refuses a mutation without the CSRF token, with a wrong one, or from another origin', async () => {
    const body = { name: 'csrf-victim', password: PASSWORD, role: 'admin' };
    const missing = await admin.call('POST', 'operators', body, { csrf: null });
    expect([missing.status, missing.body.code]).toEqual([403, 'csrf_failed']);
    const wrong = await admin.call('POST', 'operators', body, { csrf: 'A'.repeat(43) });
    expect([wrong.status, wrong.body.code]).toEqual([403, 'csrf_failed']);
    // A listed origin passes CORS, but is not the console's own origin.
    const listed = await admin.call('POST', 'operators', body, { headers: { origin: LISTED_ORIGIN } });
    expect([listed.status, listed.body.code]).toEqual([403, 'csrf_failed']);
    // Any other origin is refused before (403 origin_not_allowed, the server's CORS check).
    const foreign = await admin.call('POST', 'operators', body, { headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(['csrf_failed', 'origin_not_allowed']).toContain(foreign.body.code);
    const opaque = await admin.call('POST', 'operators', body, { headers: { origin: 'null' } });
    expect(opaque.status).toBe(403);
    expect((await admin.call('GET', 'operators')).body.operators.map((o: { name: string }) => o.name)).toEqual(['root']);
    // The same request from the console's own origin, with the token, goes through.
    const own = await admin.call('POST', 'operators', body, { headers: { origin: t.url } });
    expect(own.status).toBe(201);
  });

  it('lets an admin create operators: 409 on a taken name, 400 on a weak password', async () => {
    const viewer = await admin.call('POST', 'operators', { name: 'vera', password: PASSWORD, role: 'viewer' });
    expect(viewer.status).toBe(201);
    expect(viewer.body.operator).toMatchObject({ name: 'vera', role: 'viewer', disabledAt: null, createdAt: expect.any(String) });
    const taken = await admin.call('POST', 'operators', { name: 'VERA', password: PASSWORD, role: 'admin' });
    expect([taken.status, taken.body.code]).toEqual([409, 'operator_exists']);
    const weak = await admin.call('POST', 'operators', { name: 'walt', password: 'eleven char', role: 'viewer' });
    expect([weak.status, weak.body.code]).toEqual([400, 'weak_password']);
    const badRole = await admin.call('POST', 'operators', { name: 'walt', password: PASSWORD, role: 'owner' });
    expect([badRole.status, badRole.body.code]).toEqual([400, 'invalid_request']);
  });

  it('gives a viewer every read and refuses them every mutation (403 console_forbidden)', async () => {
    const vera = new ConsoleClient(t.url);
    expect((await vera.login('vera', PASSWORD)).body.operator.role).toBe('viewer');
    for (const path of ['session', 'operators', 'businesses', 'actions?limit=5', 'delivery?hours=24', 'routes?limit=5', 'verification', 'decrypt-failures', 'logs']) {
      const res = await vera.call('GET', path);
      expect([path, res.status]).toEqual([path, 200]);
    }
    const create = await vera.call('POST', 'operators', { name: 'mallory', password: PASSWORD, role: 'admin' });
    expect([create.status, create.body.code]).toEqual([403, 'console_forbidden']);
    const disable = await vera.call('POST', `operators/${(await admin.call('GET', 'session')).body.operator.id}/disable`);
    expect([disable.status, disable.body.code]).toEqual([403, 'console_forbidden']);
    const revoke = await vera.call('POST', 'devices/dev_AAAAAAAAAAAAAAAAAAAAAA/revoke');
    expect([revoke.status, revoke.body.code]).toEqual([403, 'console_forbidden']);
    // Logging out is a viewer's mutation too (with the CSRF token).
    expect((await vera.call('POST', 'logout', undefined, { csrf: null })).body.code).toBe('csrf_failed');
    const out = await vera.call('POST', 'logout');
    expect(out.status).toBe(204);
    expect(setCookies(out)[0]).toMatch(/^parley_console=; .*Max-Age=0/);
    expect((await vera.call('GET', 'session')).body.code).toBe('console_session_required');
  });

  it('disables an operator: their sessions stop at once, they cannot log in, an admin cannot disable themself', async () => {
    const vera = new ConsoleClient(t.url);
    await vera.login('vera', PASSWORD);
    expect((await vera.call('GET', 'session')).status).toBe(200);
    const list = (await admin.call('GET', 'operators')).body.operators as { id: string; name: string }[];
    const veraId = list.find((o) => o.name === 'vera')!.id;
    const rootId = list.find((o) => o.name === 'root')!.id;
    const self = await admin.call('POST', `operators/${rootId}/disable`);
    expect([self.status, self.body.code]).toEqual([409, 'cannot_disable_self']);
    const unknown = await admin.call('POST', `operators/op_${'A'.repeat(16)}/disable`);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_operator']);
    const disabled = await admin.call('POST', `operators/${veraId}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body.operator).toMatchObject({ id: veraId, disabledAt: expect.any(String) });
    expect((await vera.call('GET', 'session')).status).toBe(401);
    const again = await new ConsoleClient(t.url).login('vera', PASSWORD);
    expect([again.status, again.body.code]).toEqual([401, 'login_failed']);
  });

  it('records who did what, and never logs a password', async () => {
    const actions = (await admin.call('GET', 'actions?limit=50')).body.actions as { operator: { name: string }; action: string; target: string | null }[];
    const seen = actions.map((a) => `${a.operator.name} ${a.action} ${a.target ?? ''}`.trim());
    expect(seen).toEqual(expect.arrayContaining(['root bootstrap operator:root', 'root login', 'root operator.create operator:vera', 'root operator.disable operator:vera', 'vera login']));
    expect(t.logs.some((l) => l.includes('"console action"') && l.includes('"operator.disable"') && l.includes('"root"'))).toBe(true);
    expect(t.logs.filter((l) => l.includes(PASSWORD))).toEqual([]);
  });
});

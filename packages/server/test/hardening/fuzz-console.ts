/**
 * The operator console's API (`/console/api/…`, not in the OpenAPI document): bad bodies on
 * the public routes (bootstrap, login), every route without a session, and — with a real
 * admin session — bad bodies, path parameters and queries on every read view and mutation.
 * None may answer 5xx or stall (the fuzzer's findings), and none may create an operator.
 */
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import type { FuzzRequest } from './fuzz-http.js';
import { BAD_STRINGS, NUMERIC_STRINGS, deepJson, serialize } from './fuzz-inputs.js';
import type { World } from './fuzz-world.js';

const JSON_TYPE = { 'content-type': 'application/json' };
const BODIES: readonly { what: string; body: string }[] = [
  { what: 'empty body', body: '' },
  { what: 'JSON null', body: 'null' },
  { what: 'JSON array', body: '[]' },
  { what: 'not JSON', body: '{"name":' },
  { what: 'extra fields', body: '{"name":"a","password":"b","role":"admin","x":1}' },
  { what: '10 000-level nested JSON', body: deepJson(10_000, 'object') },
  { what: 'body of 2 MB', body: `{"name":"${'x'.repeat(2 * 1024 * 1024)}","password":"p"}` },
];
const READ_VIEWS = ['delivery', 'routes', 'verification', 'decrypt-failures', 'logs', 'businesses', 'operators', 'actions'];

/** The console's admin session in the fuzz world: made once by bootstrapping the first operator. */
export interface ConsoleSessionHeaders {
  readonly cookie: string;
  readonly csrf: string;
}

/**
 * Bootstraps the console's first admin on the fuzz server and logs in.
 *
 * @example
 * const session = await consoleSession(world);
 */
export async function consoleSession(world: World): Promise<ConsoleSessionHeaders> {
  const name = 'fuzz-admin';
  const password = 'fuzz admin password, long enough';
  const boot = await fetch(`${world.url}/console/api/bootstrap`, { method: 'POST', headers: { ...JSON_TYPE, authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ name, password }) });
  if (boot.status !== 201) throw new Error(`console bootstrap: ${boot.status} ${await boot.text()}`);
  const login = await fetch(`${world.url}/console/api/login`, { method: 'POST', headers: JSON_TYPE, body: JSON.stringify({ name, password }) });
  const body = (await login.json()) as { csrfToken?: string };
  const cookie = login.headers.get('set-cookie')?.split(';')[0];
  if (login.status !== 200 || !cookie || !body.csrfToken) throw new Error(`console login: ${login.status}`);
  return { cookie, csrf: body.csrfToken };
}

/**
 * The console's cases: public routes with bad bodies, every route without a session, and with
 * `session` bad queries, ids and bodies.
 *
 * @example
 * await fz.sendAll(consoleCases(await consoleSession(world)));
 */
export function consoleCases(session: ConsoleSessionHeaders): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const api = (method: string, path: string, what: string, body?: string, headers: Record<string, string> = {}): void => {
    out.push({ method, path: `/console/api/${path}`, what, headers: { ...(body === undefined ? {} : JSON_TYPE), ...headers }, ...(body === undefined ? {} : { body }) });
  };
  const authed = { cookie: session.cookie, 'x-parley-csrf': session.csrf };
  const strings = BAD_STRINGS.filter((v) => typeof v.value === 'string').map((v) => ({ what: v.what, text: v.value as string }));

  // Public routes: bad bodies, bad fields, a wrong admin token.
  for (const b of BODIES) {
    api('POST', 'login', `login, ${b.what}`, b.body);
    api('POST', 'bootstrap', `bootstrap, ${b.what}`, b.body, { authorization: `Bearer ${ADMIN_TOKEN}` });
  }
  for (const v of BAD_STRINGS) {
    api('POST', 'login', `login, name := ${v.what}`, serialize({ name: v.value, password: 'x' }));
    api('POST', 'login', `login, password := ${v.what}`, serialize({ name: 'fuzz-admin', password: v.value }));
  }
  api('POST', 'bootstrap', 'bootstrap with a wrong admin token', '{"name":"x","password":"a long enough password"}', { authorization: 'Bearer nope' });

  // Without a session: every view and mutation.
  for (const view of READ_VIEWS) api('GET', view, `${view} without a session`);
  api('POST', 'operators', 'operators without a session', '{"name":"x","password":"a long enough password","role":"admin"}');
  api('POST', 'devices/x/revoke', 'revoke without a session', '{}');
  api('GET', 'session', 'session with a forged cookie', undefined, { cookie: 'parley_console=AAAA' });
  api('GET', 'session', 'session with a huge cookie', undefined, { cookie: `parley_console=${'A'.repeat(6000)}` });

  // With an admin session: bad queries and path parameters on the views.
  for (const q of [...NUMERIC_STRINGS, ...strings.map((s) => s.text)]) {
    // Every UTF-8 byte percent-encoded (encodeURIComponent refuses a lone surrogate).
    const enc = [...Buffer.from(String(q), 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    api('GET', `delivery?hours=${enc}`, `delivery, hours := ${String(q).slice(0, 40)}`, undefined, authed);
    api('GET', `decrypt-failures?hours=${enc}`, `decrypt-failures, hours := ${String(q).slice(0, 40)}`, undefined, authed);
    api('GET', `routes?limit=${enc}`, `routes, limit := ${String(q).slice(0, 40)}`, undefined, authed);
    api('GET', `actions?limit=${enc}`, `actions, limit := ${String(q).slice(0, 40)}`, undefined, authed);
  }
  for (const id of ['x', '%00', '%zz', 'a'.repeat(5000), '..%2F..%2Fetc', '%F0%9F%98%80']) {
    api('GET', `routes/${id}`, `route detail, id of ${id.length} characters`, undefined, authed);
    api('GET', `identities/${id}/devices`, `devices of an identity id of ${id.length} characters`, undefined, authed);
    api('POST', `devices/${id}/revoke`, `revoke device id of ${id.length} characters`, '{}', authed);
    api('POST', `operators/${id}/disable`, `disable operator id of ${id.length} characters`, '{}', authed);
  }
  // With an admin session: bad operator bodies (never a weak or malformed operator created).
  for (const b of BODIES) api('POST', 'operators', `new operator, ${b.what}`, b.body, authed);
  for (const v of strings) {
    api('POST', 'operators', `new operator, name := ${v.what}`, serialize({ name: v.text, password: 'a long enough password', role: 'viewer' }), authed);
    api('POST', 'operators', `new operator, role := ${v.what}`, serialize({ name: `op-${out.length}`, password: 'a long enough password', role: v.text }), authed);
  }
  return out;
}

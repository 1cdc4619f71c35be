/**
 * `parley admin` against a real server: the --json output is the API's own shape, human
 * output is short lines, server refusals print their code and exit 1, usage errors exit 2,
 * and a private key in a JWK file is refused before anything is sent.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { main } from '../src/main.js';
import { ADMIN_TOKEN, api, startTestServer, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'parley-admin-'));
});
afterAll(async () => {
  await t?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** A public (or, with `withPrivate`, private) Ed25519 JWK written to a file. */
async function jwkFile(name: string, withPrivate = false): Promise<{ path: string; x: string }> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(withPrivate ? privateKey : publicKey);
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(jwk));
  return { path, x: jwk.x! };
}

const common = () => ['--server', t.url, '--admin-token', ADMIN_TOKEN];

describe('parley admin', () => {
  it('creates, shows, lists, disables and enables a business (--json: the API shape)', async () => {
    const key = await jwkFile('k1.json');
    const created = await run(['admin', 'businesses', 'create', 'cli-co', '--name', 'CLI Co', '--key-file', key.path, ...common(), '--json']);
    expect(created.code, created.err).toBe(0);
    // The API's own answer, with `ok` (docs/cli.md).
    const { ok, ...view } = JSON.parse(created.out);
    expect(ok).toBe(true);
    expect(view).toEqual({
      id: 'cli-co',
      name: 'CLI Co',
      status: 'active',
      createdAt: expect.any(String),
      keys: [{ kid: 'k1', createdAt: expect.any(String), jwk: { kty: 'OKP', crv: 'Ed25519', x: key.x } }],
    });
    // The server holds what the CLI printed.
    expect((await api(t.url, 'GET', '/v1/admin/businesses/cli-co', undefined, ADMIN_TOKEN)).body).toEqual(view);

    const shown = await run(['admin', 'businesses', 'show', 'cli-co', ...common(), '--json']);
    expect([shown.code, JSON.parse(shown.out)]).toEqual([0, { ok: true, ...view }]);
    const text = await run(['admin', 'businesses', 'show', 'cli-co', ...common()]);
    expect(text.code).toBe(0);
    expect(text.out.split('\n')[0]).toMatch(/^cli-co {2}active {2}created .* {2}name: CLI Co$/);
    expect(text.out).toMatch(/key k1 +active/);

    const listed = await run(['admin', 'businesses', 'list', ...common(), '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.out).businesses).toContainEqual({ id: 'cli-co', name: 'CLI Co', status: 'active', createdAt: view.createdAt, keys: 1 });
    expect((await run(['admin', 'businesses', 'list', ...common()])).out).toMatch(/^cli-co +active +keys 1 +CLI Co$/m);

    const disabled = await run(['admin', 'businesses', 'disable', 'cli-co', ...common(), '--json']);
    expect(disabled.code).toBe(0);
    expect(JSON.parse(disabled.out)).toMatchObject({ id: 'cli-co', status: 'disabled', disabledAt: expect.any(String) });
    expect((await api(t.url, 'GET', '/v1/admin/businesses/cli-co', undefined, ADMIN_TOKEN)).body.status).toBe('disabled');
    const enabled = await run(['admin', 'businesses', 'enable', 'cli-co', ...common()]);
    expect(enabled.code).toBe(0);
    expect(enabled.out).toContain('enabled cli-co');
    expect((await api(t.url, 'GET', '/v1/admin/businesses/cli-co', undefined, ADMIN_TOKEN)).body.status).toBe('active');
  });

  it('adds and retires enrollment keys; the admin token may come from PARLEY_ADMIN_TOKEN', async () => {
    const k1 = await jwkFile('keys-k1.json');
    expect((await run(['admin', 'businesses', 'create', 'cli-keys', '--name', 'Keys', '--key-file', k1.path, '--kid', 'first', ...common()])).code).toBe(0);
    const k2 = await jwkFile('keys-k2.json');
    process.env['PARLEY_ADMIN_TOKEN'] = ADMIN_TOKEN;
    try {
      const added = await run(['admin', 'keys', 'add', 'cli-keys', '--kid', 'second', '--jwk-file', k2.path, '--server', t.url, '--json']);
      expect(added.code, added.err).toBe(0);
      expect(JSON.parse(added.out)).toEqual({ ok: true, kid: 'second', createdAt: expect.any(String), jwk: { kty: 'OKP', crv: 'Ed25519', x: k2.x } });
    } finally {
      delete process.env['PARLEY_ADMIN_TOKEN'];
    }
    const retired = await run(['admin', 'keys', 'retire', 'cli-keys', '--kid', 'first', ...common(), '--json']);
    expect(retired.code).toBe(0);
    expect(JSON.parse(retired.out)).toMatchObject({ kid: 'first', retiredAt: expect.any(String) });
    const view = (await api(t.url, 'GET', '/v1/admin/businesses/cli-keys', undefined, ADMIN_TOKEN)).body;
    expect(view.keys.map((k: { kid: string; retiredAt?: string }) => [k.kid, k.retiredAt !== undefined])).toEqual([
      ['first', true],
      ['second', false],
    ]);

    // Server refusals: the code on stderr, exit 1.
    const dup = await run(['admin', 'keys', 'add', 'cli-keys', '--kid', 'second', '--jwk-file', k2.path, ...common()]);
    expect([dup.code, dup.err]).toEqual([1, expect.stringContaining('[key_exists]')]);
    const unknownKey = await run(['admin', 'keys', 'retire', 'cli-keys', '--kid', 'nope', ...common()]);
    expect([unknownKey.code, unknownKey.err]).toEqual([1, expect.stringContaining('[unknown_key]')]);
    const unknown = await run(['admin', 'businesses', 'show', 'no-such-co', ...common(), '--json']);
    // Under --json the error is JSON too, on stdout.
    expect([unknown.code, JSON.parse(unknown.out), unknown.err]).toEqual([1, { ok: false, error: { code: 'unknown_business', message: expect.any(String) } }, '']);
    const wrongToken = await run(['admin', 'businesses', 'list', '--server', t.url, '--admin-token', 'wrong']);
    expect([wrongToken.code, wrongToken.err]).toEqual([1, expect.stringContaining('[admin_token_invalid]')]);
  });

  it('usage errors exit 2, and a private JWK is never sent', async () => {
    const priv = await jwkFile('private.json', true);
    const refused = await run(['admin', 'businesses', 'create', 'cli-priv', '--name', 'P', '--key-file', priv.path, ...common()]);
    expect([refused.code, refused.err]).toEqual([2, expect.stringContaining('private key')]);
    expect((await api(t.url, 'GET', '/v1/admin/businesses/cli-priv', undefined, ADMIN_TOKEN)).status).toBe(404);
    const pub = await jwkFile('pub.json');
    const cases: string[][] = [
      ['admin'],
      ['admin', 'businesses'],
      ['admin', 'businesses', 'rename', 'x', ...common()],
      ['admin', 'businesses', 'show', ...common()],
      ['admin', 'businesses', 'show', 'Not_An_Id', ...common()],
      ['admin', 'businesses', 'list', 'extra-id', ...common()],
      ['admin', 'businesses', 'show', 'cli-co'],
      ['admin', 'businesses', 'show', 'cli-co', '--server', t.url],
      ['admin', 'businesses', 'show', 'cli-co', ...common(), '--bogus'],
      ['admin', 'businesses', 'create', 'cli-x', '--key-file', pub.path, ...common()],
      ['admin', 'businesses', 'create', 'cli-x', '--name', 'X', ...common()],
      ['admin', 'businesses', 'create', 'cli-x', '--name', 'X', '--key-file', join(dir, 'missing.json'), ...common()],
      ['admin', 'businesses', 'disable', 'cli-co', '--kid', 'k1', ...common()],
      ['admin', 'keys', 'add', 'cli-co', '--jwk-file', pub.path, ...common()],
      ['admin', 'keys', 'add', 'cli-co', '--kid', 'k9', ...common()],
      ['admin', 'keys', 'retire', 'cli-co', ...common()],
      ['admin', 'keys', 'retire', 'cli-co', '--kid', 'bad kid', ...common()],
    ];
    const saved = process.env['PARLEY_ADMIN_TOKEN'];
    delete process.env['PARLEY_ADMIN_TOKEN'];
    try {
      for (const args of cases) {
        const r = await run(args);
        expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      }
    } finally {
      if (saved !== undefined) process.env['PARLEY_ADMIN_TOKEN'] = saved;
    }
    expect((await api(t.url, 'GET', '/v1/admin/businesses/cli-x', undefined, ADMIN_TOKEN)).status).toBe(404);
  });
});

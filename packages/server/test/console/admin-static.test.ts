/**
 * The console page served from `console.assetsDir` over real HTTP: index.html at `/console`
 * and `/console/` with its security headers, assets with their content types, and nothing
 * outside the directory — `..` in any spelling, dot-files, links leading out — sent raw,
 * as a browser would never send them.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { raw } from './auth-client.js';

let t: TestServer;
let base: string;
const INDEX = '<!doctype html><title>Parley console</title><script type="module" src="app.js"></script>';
const SECRET = 'outside-the-assets-directory';

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'parley-console-static-'));
  const dist = join(base, 'dist');
  await mkdir(join(dist, 'assets'), { recursive: true });
  await writeFile(join(dist, 'index.html'), INDEX);
  await writeFile(join(dist, 'app.js'), 'export const app = 1;\n');
  await writeFile(join(dist, 'assets', 'style.css'), 'body { margin: 0 }\n');
  await writeFile(join(dist, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  await writeFile(join(dist, '.env'), SECRET);
  await writeFile(join(base, 'package.json'), JSON.stringify({ secret: SECRET }));
  await symlink(join(base, 'package.json'), join(dist, 'linked.json'));
  await symlink(base, join(dist, 'up'));
  t = await startTestServer({ console: { assetsDir: dist } });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await rm(base, { recursive: true, force: true });
});

describe('console page', () => {
  it('serves index.html at /console and /console/ with strict security headers', async () => {
    for (const path of ['/console/', '/console']) {
      const res = await raw(t.url, path);
      expect([path, res.status, res.text]).toEqual([path, 200, INDEX]);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      const csp = String(res.headers['content-security-policy']).split('; ');
      expect(csp).toEqual(expect.arrayContaining(["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]));
      expect(csp.join(' ')).not.toContain('unsafe');
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('serves assets with their content types', async () => {
    const cases: [string, string][] = [
      ['/console/app.js', 'text/javascript; charset=utf-8'],
      ['/console/assets/style.css', 'text/css; charset=utf-8'],
      ['/console/assets/logo.svg', 'image/svg+xml'],
    ];
    for (const [path, type] of cases) {
      const res = await raw(t.url, path);
      expect([path, res.status, res.headers['content-type']]).toEqual([path, 200, type]);
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    }
    expect((await raw(t.url, '/console/app.js')).text).toBe('export const app = 1;\n');
    expect((await raw(t.url, '/console/missing.js')).status).toBe(404);
  });

  it('serves nothing outside the directory: no traversal, no dot-files, no links out', async () => {
    const attempts = [
      '/console/../package.json',
      '/console/assets/../../package.json',
      '/console/%2e%2e/package.json',
      '/console/..%2fpackage.json',
      '/console/%2e%2e%2fpackage.json',
      '/console/assets/..%2f..%2fpackage.json',
      '/console/..%5cpackage.json',
      '/console/.env',
      '/console/%2eenv',
      '/console/linked.json',
      '/console/up/package.json',
      '/console//etc/passwd',
      '/console/%2fetc%2fpasswd',
      '/console/app.js%00.html',
      '/console/assets',
    ];
    for (const path of attempts) {
      const res = await raw(t.url, path);
      expect([path, res.status >= 400 && res.status < 500]).toEqual([path, true]);
      expect(res.text).not.toContain(SECRET);
      expect(res.text).not.toContain('root:');
    }
  });

  it('answers the API beside the page with no-store', async () => {
    const status = await raw(t.url, '/console/api/status');
    expect([status.status, status.body]).toEqual([200, { bootstrapped: false }]);
    expect(status.headers['cache-control']).toBe('no-store');
    expect(status.headers['x-frame-options']).toBe('DENY');
  });
});

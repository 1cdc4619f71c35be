/**
 * `parley serve`'s admin token, on real server processes: a generated token never appears
 * in the output (stdout is the JSON log stream); it is written once to
 * `<key-dir>/admin-token` (0600, directory 0700), whose path goes to stderr, and reused on
 * restart. `--admin-token-file` is refused when others can read it (mode & 077), like ssh.
 * `--admin-token` on the command line still works but is warned about; PARLEY_ADMIN_TOKEN
 * is not.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'packages/cli/bin/parley.js');

let dir: string;
const running = new Set<() => Promise<void>>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-admin-token-'));
});
afterAll(async () => {
  for (const stop of running) await stop();
  await rm(dir, { recursive: true, force: true });
});

interface Served {
  url: string | undefined;
  code: number | null;
  stdout: string;
  stderr: string;
  stop(): Promise<void>;
}

/** Spawns `parley serve`; resolves once it listens (then `stop()` sends SIGTERM) or once it exits. */
function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (env['PARLEY_ADMIN_TOKEN'] === undefined) delete childEnv['PARLEY_ADMIN_TOKEN'];
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--log-level', 'info', ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const served: Served = { url: undefined, code: null, stdout: '', stderr: '', stop: async () => {} };
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((served.code = code), resolve())));
  served.stop = async () => {
    running.delete(served.stop);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  running.add(served.stop);
  child.stdout.on('data', (d: Buffer) => (served.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (served.stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`parley serve neither listened nor exited: ${served.stdout}${served.stderr}`)), 90_000);
    child.stdout.on('data', () => {
      const m = /parley listening on (http:\/\/\S+)/.exec(served.stdout);
      if (m && served.url === undefined) {
        served.url = m[1]!;
        // The lines after "listening" (admin token, logs) are written at once; give them a moment.
        setTimeout(() => (clearTimeout(timer), resolve(served)), 300);
      }
    });
    void exited.then(() => (clearTimeout(timer), resolve(served)));
  });
}

/** POST /v1/admin/businesses with this bearer token: 201 when it is the admin token, 401 otherwise. */
async function adminStatus(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/v1/admin/businesses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, name: 'Token Test', enrollmentKeys: [] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe('parley serve: the admin token', () => {
  it('generates it into <key-dir>/admin-token (0600 in 0700), prints only the path on stderr, and reuses it', async () => {
    const dataDir = join(dir, 'generated');
    const s = await serve(['--data-dir', dataDir]);
    expect(s.url, s.stderr).toBeDefined();
    const file = join(dataDir, 'keys', 'admin-token');
    const token = (await readFile(file, 'utf8')).trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'keys'))).mode & 0o777).toBe(0o700);
    expect(s.stdout).not.toContain(token);
    expect(s.stderr).not.toContain(token);
    expect(s.stderr).toContain(`admin token: generated into ${file}`);
    expect(await adminStatus(s.url!, token)).not.toBe(401);
    expect(await adminStatus(s.url!, 'not-the-token')).toBe(401);
    await s.stop();

    const again = await serve(['--data-dir', dataDir]);
    expect(again.stderr).toContain(`admin token: read from ${file}`);
    expect(await adminStatus(again.url!, token)).not.toBe(401);
    expect(again.stdout + again.stderr).not.toContain(token);
    await again.stop();
  }, 180_000);

  it('--admin-token-file: refused when others can read it (exit 1, nothing listens), used when 0600', async () => {
    const file = join(dir, 'token');
    const token = 'file-token-0123456789abcdef';
    await writeFile(file, `${token}\n`);
    await chmod(file, 0o644);
    const refused = await serve(['--data-dir', join(dir, 'file'), '--admin-token-file', file]);
    expect(refused.url).toBeUndefined();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the admin token file ${file} is open to other users (mode 644); run: chmod 600 ${file}`);
    expect(refused.stderr + refused.stdout).not.toContain(token);
    await chmod(file, 0o640);
    expect((await serve(['--data-dir', join(dir, 'file'), '--admin-token-file', file])).code).toBe(1);

    await chmod(file, 0o600);
    const s = await serve(['--data-dir', join(dir, 'file'), '--admin-token-file', file]);
    expect(s.stderr).toContain(`admin token: read from ${file}`);
    expect(s.stderr).not.toMatch(/warning: --admin-token/); // (serve's warnings about the rest of its configuration aside)
    expect(await adminStatus(s.url!, token)).not.toBe(401);
    expect(s.stdout + s.stderr).not.toContain(token);
    await s.stop();
  }, 180_000);

  it('--admin-token on the command line works but is warned about on stderr; PARLEY_ADMIN_TOKEN is not', async () => {
    const flag = await serve(['--data-dir', join(dir, 'flag'), '--admin-token', 'flag-token-0123456789abcdef']);
    expect(flag.stderr).toMatch(/warning: --admin-token on the command line is visible to other users .*--admin-token-file FILE or PARLEY_ADMIN_TOKEN/);
    expect(await adminStatus(flag.url!, 'flag-token-0123456789abcdef')).not.toBe(401);
    await flag.stop();

    const env = await serve(['--data-dir', join(dir, 'env')], { PARLEY_ADMIN_TOKEN: 'env-token-0123456789abcdef' });
    expect(env.stderr).not.toMatch(/warning: --admin-token/);
    expect(env.stderr).toContain('admin token: from PARLEY_ADMIN_TOKEN');
    expect(await adminStatus(env.url!, 'env-token-0123456789abcdef')).not.toBe(401);
    expect(env.stdout).not.toContain('env-token-0123456789abcdef');
    await env.stop();
  }, 180_000);

  it('refuses --admin-token together with --admin-token-file (exit 2)', async () => {
    const r = await serve(['--data-dir', join(dir, 'both'), '--admin-token', 'x', '--admin-token-file', join(dir, 'token')]);
    expect(r.url).toBeUndefined();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('use either --admin-token or --admin-token-file');
  }, 60_000);
});

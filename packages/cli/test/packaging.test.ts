/**
 * The published packages, as a stranger gets them: `npm pack` of @parley/core, custody,
 * client, server, emulators, gateway and cli, installed into an empty project outside this repository
 * (no workspace links, no tsx, no TypeScript sources, no `parley-source` condition), then:
 * (a) the entries import with plain Node and the `parley` bin runs; (b) the installed
 * `parley serve` runs, and examples/node-quickstart.mjs (the README's Node example) sends
 * an OTP from a Sender to a device and verifies the evidence, with the installed SDK;
 * (c) a strict TypeScript app type-checks against the installed .d.ts files; (d) `parley demo`
 * runs, and without the optional playwright-core it says so and replays the web page over HTTP;
 * (e) a page bundled (esbuild) from the installed @parley/client and /browser enrolls a device
 * in headless Chromium against the installed server, and opens it again from IndexedDB after a reload.
 * Prints tarball sizes and the install size.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sender } from '@parley/client';
import { CHROMIUM, chromiumAvailable, startBrowserFixture, valueOf } from '@parley/test-kit/browser';
import { createBusiness, enrollSender } from '@parley/test-kit/sdk';
import { ADMIN_TOKEN as TEST_KIT_ADMIN_TOKEN } from '@parley/test-kit/server';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['core', 'custody', 'client', 'server', 'emulators', 'gateway', 'cli'] as const;
const ADMIN_TOKEN = 'packaging-test-admin-token-0123456789';
const log = (line: string) => process.stdout.write(`packaging: ${line}\n`);

/**
 * The environment of a stranger's shell: none of this repository's npm run variables, and
 * no `parley-source` condition (vitest.config.ts puts it into NODE_OPTIONS for in-repo runs).
 */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_') && k !== 'NODE_OPTIONS' && k !== 'INIT_CWD') env[k] = v;
  return { ...env, ...extra };
}

interface Packed {
  name: string;
  file: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
}

let work: string;
let project: string;
let packed: Packed[] = [];
let installLog = '';
const children: ChildProcess[] = [];

// The packaging check does not depend on the database engine: the PostgreSQL leg of CI
// (PARLEY_TEST_ENGINE=postgres) has already run it with the embedded engine.
const OTHER_LEG = process.env['PARLEY_TEST_ENGINE'] === 'postgres';
if (OTHER_LEG) process.stdout.write('packaging: skipped in the PostgreSQL leg (engine-independent; run in the PGlite leg)\n');

beforeAll(async () => {
  if (OTHER_LEG) return;
  // The build is incremental (tsc -b): fast when dist/ is current, and never stale.
  const t0 = Date.now();
  await run('npm', ['run', 'build'], { cwd: REPO, env: cleanEnv() });
  log(`npm run build: ${Date.now() - t0} ms`);

  work = await mkdtemp(join(tmpdir(), 'parley-packaging-'));
  expect(work.startsWith(REPO)).toBe(false);
  const tarballs = join(work, 'tarballs');
  await mkdir(tarballs);
  for (const pkg of PACKAGES) {
    const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tarballs], { cwd: join(REPO, 'packages', pkg), env: cleanEnv() });
    const [info] = JSON.parse(stdout) as { name: string; filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] }[];
    const paths = info!.files.map((f) => f.path);
    // What ships: compiled code, declarations, maps, sources (for the maps), the licence; never tests.
    expect(paths).toContain('LICENSE');
    expect(paths.some((p) => p.startsWith('dist/') && p.endsWith('.d.ts'))).toBe(true);
    expect(paths.filter((p) => p.startsWith('test/') || p.endsWith('.tsbuildinfo'))).toEqual([]);
    packed.push({ name: info!.name, file: join(tarballs, info!.filename), size: info!.size, unpackedSize: info!.unpackedSize, entryCount: info!.entryCount });
  }
  for (const p of packed) log(`tarball ${p.name}: ${(p.size / 1024).toFixed(1)} KiB packed, ${(p.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${p.entryCount} files`);

  project = join(work, 'app');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'parley-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  const t1 = Date.now();
  const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...packed.map((p) => p.file)], {
    cwd: project,
    env: cleanEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
  installLog = installed.stdout + installed.stderr;
  log(`npm install of the ${packed.length} tarballs: ${Date.now() - t1} ms`);
  for (const line of installLog.split('\n').filter((l) => /warn/i.test(l))) log(`npm install said: ${line}`);
  const { stdout: du } = await run('du', ['-sk', join(project, 'node_modules')]);
  log(`installed size: ${(Number(du.split('\t')[0]) / 1024).toFixed(1)} MiB in node_modules (all the packages and their dependencies)`);
}, 600_000);

/** Starts the installed `parley serve --port 0 …` (plain Node); resolves with its URL once it listens. */
async function startInstalledServe(args: readonly string[], adminToken: string): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(join(project, 'node_modules/.bin/parley'), ['serve', '--port', '0', ...args], {
    cwd: project,
    env: cleanEnv({ PARLEY_ADMIN_TOKEN: adminToken }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`parley serve did not start: ${output}`)), 120_000);
    child.stdout!.on('data', () => {
      const m = /parley listening on (http:\/\/\S+)/.exec(output);
      if (m) (clearTimeout(timer), resolve(m[1]!));
    });
    void exited.then((code) => (clearTimeout(timer), reject(new Error(`parley serve exited ${code}: ${output}`))));
  });
  return { url, child, exited };
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (work) await rm(work, { recursive: true, force: true });
});

describe.skipIf(OTHER_LEG)('the packed packages, installed outside the repository', () => {
  it('install from the tarballs alone: real directories, no tsx, no playwright', async () => {
    for (const pkg of PACKAGES) {
      const dir = join(project, 'node_modules/@parley', pkg);
      // A copy, not a symlink into the repository.
      expect((await stat(dir)).isDirectory()).toBe(true);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { version: string; license: string; dependencies?: Record<string, string> };
      expect(manifest).toMatchObject({ version: '0.1.0', license: 'Apache-2.0' });
      // Versions move together: every internal dependency is pinned to the same version.
      for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) if (dep.startsWith('@parley/')) expect(range, `${pkg} → ${dep}`).toBe(manifest.version);
      expect(existsSync(join(dir, 'LICENSE'))).toBe(true);
    }
    expect(existsSync(join(project, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(join(project, 'node_modules/typescript'))).toBe(false);
    // An optional peer dependency: the demo skips its browser step without it.
    expect(existsSync(join(project, 'node_modules/playwright-core'))).toBe(false);
    // Engines are truthful: no installed dependency asks for a newer Node than ours.
    expect(installLog.split('\n').filter((l) => /EBADENGINE/.test(l))).toEqual([]);
  });

  it('(a) imports every entry with plain Node, and the parley bin runs', async () => {
    const script = `
      const entries = ['@parley/core', '@parley/core/mls', '@parley/core/mls/node', '@parley/core/audit', '@parley/core/tlog',
        '@parley/core/keylog', '@parley/core/verification', '@parley/core/web-message', '@parley/core/escrow',
        '@parley/custody', '@parley/client', '@parley/client/node', '@parley/client/browser', '@parley/server', '@parley/emulators', '@parley/gateway', '@parley/gateway/webhooks', '@parley/cli'];
      const out = {};
      for (const e of entries) out[e] = Object.keys(await import(e)).length;
      console.log(JSON.stringify(out));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: project, env: cleanEnv() });
    const counts = JSON.parse(stdout) as Record<string, number>;
    log(`exports per entry: ${stdout.trim()}`);
    for (const [entry, n] of Object.entries(counts)) expect(n, entry).toBeGreaterThan(0);

    const help = await run(join(project, 'node_modules/.bin/parley'), ['--help'], { cwd: project, env: cleanEnv() });
    expect(help.stdout).toContain('parley serve');
  }, 120_000);

  it('(b) parley serve runs, and the Node quickstart sends an OTP that a device decrypts, with verified evidence', async () => {
    await copyFile(join(REPO, 'examples/node-quickstart.mjs'), join(project, 'node-quickstart.mjs'));
    const { url, child, exited } = await startInstalledServe(['--data-dir', join(work, 'data')], ADMIN_TOKEN);
    log(`installed parley serve listening on ${url}`);

    const t0 = Date.now();
    const { stdout, stderr } = await run(process.execPath, ['node-quickstart.mjs'], {
      cwd: project,
      env: cleanEnv({ PARLEY_URL: url, PARLEY_ADMIN_TOKEN: ADMIN_TOKEN }),
      timeout: 120_000,
    });
    log(`node-quickstart.mjs (${Date.now() - t0} ms): ${stdout.trim()}${stderr ? ` [stderr: ${stderr.trim()}]` : ''}`);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ sentTo: 1, received: true, class: 'otp', commitmentVerified: true, evidenceOk: true, failedChecks: [] });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 300_000);

  it('(e) a page bundled from the installed packages keeps its browser device across a reload', async () => {
    if (!chromiumAvailable) return void log(`no Chromium at ${CHROMIUM}: (e) skipped (apt-get install chromium)`);
    // The page imports @parley/client and @parley/client/browser; esbuild resolves them in the
    // installed project (dist/, no parley-source condition), as an app's bundler would.
    const fx = await startBrowserFixture({ installedIn: project });
    const { url, child, exited } = await startInstalledServe(['--data-dir', join(work, 'data-browser'), '--allowed-origins', fx.origin], TEST_KIT_ADMIN_TOKEN);
    let sender: Sender | undefined;
    try {
      const bank = await createBusiness(url, 'packaged-browser-bank');
      sender = await enrollSender(url, bank);
      await sender.connect();
      const context = await fx.browser.newContext();
      const first = await fx.openPage(context);
      const deviceId = valueOf(await first.evaluate(([u, token]) => window.parley.enroll(u, token, 'installed-phone'), [url, await bank.issue('c-7', 'customer')] as const));
      const otp = await sender.send('c-7', 'Your code is 640213', { class: 'otp' });
      expect(otp.customerDevices).toEqual([deviceId]);
      await expect.poll(() => first.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toEqual(['Your code is 640213']);
      await first.reload();
      await first.waitForFunction(() => document.title === 'parley-test-page-ready');
      expect(valueOf(await first.evaluate((name) => window.parley.open(name), 'installed-phone'))).toBe(deviceId);
      const next = await sender.send('c-7', 'Next code 118204', { class: 'otp' });
      expect(next.conversationId).toBe(otp.conversationId);
      await expect.poll(() => first.evaluate(() => window.parley.messages()), { timeout: 30_000 }).toContain('Next code 118204');
      await context.close();
    } finally {
      await sender?.close();
      await fx.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 300_000);

  it('(d) parley demo runs from the installed packages; without playwright-core it skips driving Chromium, with a note', async () => {
    const { stdout, stderr } = await run(join(project, 'node_modules/.bin/parley'), ['demo', '--json'], { cwd: project, env: cleanEnv(), timeout: 240_000, maxBuffer: 16 * 1024 * 1024 });
    for (const line of stderr.split('\n').filter(Boolean)) log(`parley demo (stderr): ${line}`);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true });
    if (existsSync(process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium')) expect(stderr).toContain('playwright-core is not installed');
  }, 300_000);

  it('(c) a strict TypeScript app type-checks against the installed declarations', async () => {
    // Beside the installed node_modules (resolution walks up from app/…), with Node's types.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '@types/node@20.19.43'], { cwd: project, env: cleanEnv() });
    for (const file of ['app.ts', 'tsconfig.json', 'tsconfig.node-only.json']) await copyFile(join(REPO, 'packages/cli/test/fixtures/consumer', file), join(project, file));
    const tsc = (config: string, ...flags: string[]) =>
      run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(project, config), ...flags], { cwd: project, env: cleanEnv() }).then(
        ({ stdout }) => stdout,
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
    // The program reads our declarations from the installed dist/, nothing from the repository.
    const files = (await tsc('tsconfig.json', '--listFilesOnly')).split('\n');
    const ours = files.filter((f) => f.includes('/node_modules/@parley/'));
    log(`declaration files of @parley/* in the consumer's program: ${ours.length}`);
    expect(ours.length).toBeGreaterThan(20);
    expect(ours.filter((f) => !/\/node_modules\/@parley\/[a-z]+\/dist\/.*\.d\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith(REPO) && !f.startsWith(join(REPO, 'node_modules/typescript/lib/')))).toEqual([]);

    // skipLibCheck false: the app and every declaration it pulls in, ours and third-party.
    expect(await tsc('tsconfig.json')).toBe('');
    // Without the DOM lib only third-party declarations (WebCrypto's global types) may fail.
    const errors = (await tsc('tsconfig.node-only.json')).split('\n').filter((l) => /error TS\d+/.test(l));
    const thirdParty = errors.filter((l) => /^node_modules\/(ts-mls|@hpke\/common)\//.test(l));
    log(`without the DOM lib: ${thirdParty.length} errors in ts-mls/@hpke declarations, ${errors.length - thirdParty.length} elsewhere`);
    expect(errors.filter((l) => !thirdParty.includes(l))).toEqual([]);
  }, 300_000);
});

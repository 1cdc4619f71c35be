/**
 * Start-up of the embedded default (issue 18): `parley serve` answers `/readyz` without having
 * loaded what it may never need — the PostgreSQL driver (the embedded default never opens it),
 * the schema compilers (route schemas compile on first use and a second after the node is
 * ready), @fastify/swagger with its YAML writer (the OpenAPI document is made on its first
 * request), X-Wing's ML-KEM (the suite is built for the first X-Wing KeyPackage) and the SMPP
 * client (no SMPP channel configured). The process runs with a preload that logs every module
 * as it loads (fixtures/module-log.mjs); the log is read the moment `/readyz` first answers 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readyPort } from './serve-fixture.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./fixtures/module-log.mjs', import.meta.url));

/** Packages a ready node must not have loaded, by the path segment of their files. */
const DEFERRED = {
  pg: '/node_modules/pg/',
  ajv: '/node_modules/ajv/',
  'fast-json-stringify': '/node_modules/fast-json-stringify/index.js',
  '@fastify/swagger': '/node_modules/@fastify/swagger/',
  yaml: '/node_modules/yaml/',
  '@hpke/hybridkem-x-wing': '/node_modules/@hpke/hybridkem-x-wing/',
  mlkem: '/node_modules/mlkem/',
  smpp: '/node_modules/smpp/',
} as const;

let dir: string;
let child: ChildProcess | undefined;
afterAll(async () => {
  child?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

function loadedOf(log: string): (segment: string) => boolean {
  const paths = log.split('\n');
  return (segment) => paths.some((p) => p.includes(segment));
}

describe('parley serve on the embedded default: modules loaded before it is ready', () => {
  it('loads no PostgreSQL driver, schema compiler, OpenAPI writer, X-Wing or SMPP client; the document loads swagger on its first request', async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-lazy-modules-'));
    const log = join(dir, 'modules.log');
    let out = '';
    child = spawn(process.execPath, ['--import', PRELOAD, 'packages/cli/bin/parley.js', 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'warn'], {
      cwd: REPO,
      env: { ...process.env, PARLEY_MODULE_LOG: log },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const port = await readyPort(child, () => out);
    const atReady = loadedOf(await readFile(log, 'utf8'));

    // The log works: the HTTP framework and the WebSocket server were loaded.
    expect(atReady('/node_modules/fastify/')).toBe(true);
    expect(atReady('/node_modules/ws/')).toBe(true);
    const early = Object.entries(DEFERRED).filter(([, segment]) => atReady(segment)).map(([name]) => name);
    expect(early, `loaded before /readyz answered: ${early.join(', ')}`).toEqual([]);

    // Deferred, not removed: the first document request loads @fastify/swagger and answers.
    const response = await fetch(`http://127.0.0.1:${port}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { openapi?: string; paths?: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths ?? {}).length).toBeGreaterThan(20);
    const afterDocument = loadedOf(await readFile(log, 'utf8'));
    expect(afterDocument(DEFERRED['@fastify/swagger'])).toBe(true);
    expect(afterDocument(DEFERRED.yaml)).toBe(true);
  }, 120_000);
});

/**
 * The conventions every `parley` command keeps (docs/cli.md), run through `main()` in
 * process with stdout and stderr captured: `--help`/`-h` on every command and subcommand
 * (exit 0, usage on stdout), `--version`, usage errors exit 2, `--json` errors as one
 * `{ ok: false, error: { code, message } }` object on stdout, server URLs without a scheme
 * and unknown log levels refused as usage errors, a refused admin token named as such.
 * One child process checks that `npm run <script>` puts nothing of npm's on stdout.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { main } from '../src/main.js';
import { COMMAND_HELP } from '../src/help.js';

const REPO = join(import.meta.dirname, '..', '..', '..');

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(args: string[]): Promise<Run> {
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

/** stdout must be exactly one JSON object on one line. */
function oneJson(r: Run): { ok: boolean; error?: { code: string; message: string } } {
  const lines = r.out.split('\n').filter((l) => l !== '');
  expect(lines, r.out).toHaveLength(1);
  return JSON.parse(lines[0]!) as { ok: boolean; error?: { code: string; message: string } };
}

/** Every command and subcommand, written out (not derived from the help registry it checks). */
const PATHS: string[][] = [
  ['serve'],
  ['demo'],
  ['log'],
  ['log', 'list'],
  ['log', 'verify'],
  ['log', 'rotate-key'],
  ['keys'],
  ['keys', 'lookup'],
  ['audit'],
  ['audit', 'export'],
  ['audit', 'verify'],
  ['audit', 'monitor'],
  ['admin'],
  ['admin', 'businesses'],
  ['admin', 'keys'],
  ['escrow'],
  ['escrow', 'officer-key'],
  ['escrow', 'init'],
  ['escrow', 'request'],
  ['escrow', 'approve'],
  ['escrow', 'open'],
  ['escrow', 'list'],
  ['gateway'],
  ['gateway', 'init'],
  ['gateway', 'keys'],
  ['gateway', 'secrets'],
  ['gateway', 'rotate-sender-keys'],
];

/** One runnable command line per command and subcommand, with an unknown flag. */
const UNKNOWN_FLAG: string[][] = [
  ['serve', '--nope'],
  ['demo', '--nope'],
  ['log', 'list', '--nope'],
  ['log', 'verify', '--nope'],
  ['log', 'rotate-key', '--nope'],
  ['keys', 'lookup', 'bank:c-1', '--nope'],
  ['audit', 'export', '--nope'],
  ['audit', 'verify', 'bundle.json', '--nope'],
  ['audit', 'monitor', '--nope'],
  ['admin', 'businesses', 'list', '--nope'],
  ['admin', 'keys', 'add', 'bank', '--nope'],
  ['escrow', 'officer-key', '--nope'],
  ['escrow', 'init', '--nope'],
  ['escrow', 'request', '--nope'],
  ['escrow', 'approve', '--nope'],
  ['escrow', 'open', '--nope'],
  ['escrow', 'list', '--nope'],
  ['gateway', '--nope'],
  ['gateway', 'init', '--nope'],
  ['gateway', 'keys', 'list', '--nope'],
  ['gateway', 'secrets', 'list', '--nope'],
  ['gateway', 'rotate-sender-keys', '--nope'],
];

describe('parley --help and --version', () => {
  it('lists every command and subcommand the help knows', () => {
    const known = Object.entries(COMMAND_HELP).flatMap(([c, h]) => [[c], ...(h.subcommands ?? []).map((s) => [c, s])]);
    expect(PATHS.map((p) => p.join(' ')).sort()).toEqual(known.map((p) => p.join(' ')).sort());
  });

  it('--version prints the version of packages/cli/package.json', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect([r.code, r.out, r.err]).toEqual([0, `parley ${version}\n`, '']);
  });

  it('parley --help, -h and help: every command on stdout, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = await run(args);
      expect(r.code).toBe(0);
      for (const command of Object.keys(COMMAND_HELP)) expect(r.out).toContain(`parley ${command}`);
      expect(r.out).toMatch(/Exit codes: 0 success, 1 failure, 2 usage error/);
    }
    expect((await run(['help', 'log'])).out).toContain('parley log verify');
  });

  it.each(PATHS)('parley %s … --help / -h: its own usage on stdout, exit 0', async (...path: string[]) => {
    for (const flag of ['--help', '-h']) {
      const r = await run([...path, flag]);
      expect([r.code, r.err], `${path.join(' ')} ${flag}`).toEqual([0, '']);
      expect(r.out).toMatch(/^Usage:\n/);
      expect(r.out).toContain(`parley ${path.join(' ')}`);
    }
    // Anywhere on the command line, even after flags the command would refuse.
    expect((await run([...path, '--url', 'x', '--nope', '--help'])).code).toBe(0);
  });

  it('a subcommand’s help is its own lines, not the whole command’s', async () => {
    const verify = await run(['log', 'verify', '--help']);
    expect(verify.out).not.toContain('parley log list');
    const init = await run(['escrow', 'init', '-h']);
    expect(init.out).not.toContain('parley escrow approve');
  });
});

describe('usage errors exit 2', () => {
  it.each(UNKNOWN_FLAG)('parley %s … with an unknown flag: exit 2, [usage] on stderr, nothing on stdout', async (...args: string[]) => {
    const r = await run(args);
    expect([r.code, r.out], r.err).toEqual([2, '']);
    expect(r.err).toMatch(/^parley( \w+)?: \[usage\] /);
  });

  it('an unknown command, a missing command or subcommand: exit 2', async () => {
    for (const args of [['frobnicate'], [], ['log'], ['keys'], ['audit'], ['admin'], ['escrow'], ['log', 'frob'], ['keys', 'frob'], ['gateway', 'frob']]) {
      const r = await run(args);
      expect([args.join(' '), r.code, r.out]).toEqual([args.join(' '), 2, '']);
      expect(r.err).toContain('[usage]');
    }
  });

  it('--json: the usage error is one JSON object on stdout, nothing on stderr', async () => {
    const cases = [
      ['log', 'list', '--nope', '--json'],
      ['log', 'verify', '--json'],
      ['log', 'rotate-key', '--log', 'nope', '--key-dir', '/tmp', '--json'],
      ['keys', 'lookup', 'bank:c-1', '--nope', '--json'],
      ['audit', 'verify', 'bundle.json', '--json'],
      ['audit', 'monitor', '--interval', '0', '--json'],
      ['admin', 'businesses', 'list', '--json'],
      ['escrow', 'list', '--json'],
      ['gateway', 'init', '--json'],
      ['gateway', 'keys', 'frob', '--json'],
      ['demo', '--nope', '--json'],
      ['frobnicate', '--json'],
    ];
    for (const args of cases) {
      const r = await run(args);
      expect([args.join(' '), r.code, r.err]).toEqual([args.join(' '), 2, '']);
      const json = oneJson(r);
      expect(json).toEqual({ ok: false, error: { code: 'usage', message: expect.any(String) } });
      expect(json.error!.message.length).toBeGreaterThan(0);
    }
  });

  it('every --url and --server without a scheme: a usage error naming http://, not "unreachable"', async () => {
    const url = '127.0.0.1:8080';
    const cases = [
      ['log', 'list', '--url', url],
      ['log', 'verify', '--url', url],
      ['keys', 'lookup', 'bank:c-1', '--url', url, '--admin-token', 't'],
      ['audit', 'export', '--message', 'AAAAAAAAAAAAAAAAAAAAAA', '--server', url, '--admin-token', 't'],
      ['audit', 'export', '--message', 'AAAAAAAAAAAAAAAAAAAAAA', '--url', url, '--admin-token', 't'],
      ['audit', 'monitor', '--url', url],
      ['admin', 'businesses', 'list', '--server', url, '--admin-token', 't'],
      ['escrow', 'list', '--server', url, '--admin-token', 't'],
      ['demo', '--server', url, '--admin-token', 't'],
      ['gateway', 'init', '--server', url, '--business', 'bank', '--admin-token', 't'],
    ];
    for (const args of cases) {
      const text = await run(args);
      expect([args.join(' '), text.code, text.out]).toEqual([args.join(' '), 2, '']);
      expect(text.err).toMatch(new RegExp(`^parley( audit)?: \\[usage\\] --(url|server) '${url}' has no scheme: write http://${url}`));
      // audit export prints a document (the bundle) and takes no --json.
      if (args[1] === 'export') continue;
      const r = await run([...args, '--json']);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      const { error } = oneJson(r);
      expect(error!.code).toBe('usage');
      expect(error!.message).toContain('no scheme');
      expect(error!.message).toContain(`http://${url}`);
    }
    const plain = await run(['log', 'list', '--url', url]);
    expect(plain.err).toBe(`parley: [usage] --url '${url}' has no scheme: write http://${url} (or https://…)\n`);
    expect((await run(['log', 'list', '--url', 'ftp://example.org'])).err).toContain('must be an http:// or https:// URL');
  });

  it('--log-level: one of pino’s levels, else a usage error listing them (nothing created)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-conventions-'));
    try {
      for (const args of [
        ['serve', '--data-dir', join(dir, 'serve'), '--log-level', 'verbose'],
        ['gateway', '--data-dir', join(dir, 'gateway'), '--log-level', 'verbose'],
      ]) {
        const r = await run(args);
        expect([r.code, r.out]).toEqual([2, '']);
        expect(r.err).toBe(`parley: [usage] --log-level 'verbose' is not a log level: use one of trace, debug, info, warn, error, fatal, silent\n`);
      }
      const json = oneJson(await run(['gateway', '--data-dir', join(dir, 'gateway'), '--log-level', 'verbose', '--json']));
      expect(json.error!.code).toBe('usage');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('audit export --message: missing and malformed are told apart', async () => {
    const missing = await run(['audit', 'export', '--server', 'http://127.0.0.1:1']);
    expect([missing.code, missing.err]).toEqual([2, expect.stringContaining('--message ID is required')]);
    const malformed = await run(['audit', 'export', '--message', 'not an id!', '--server', 'http://127.0.0.1:1']);
    expect([malformed.code, malformed.err]).toEqual([2, expect.stringContaining("--message 'not an id!' is malformed")]);
  });

  it('keys lookup: a malformed identity is a usage error', async () => {
    const r = await run(['keys', 'lookup', 'no-colon', '--url', 'http://127.0.0.1:1', '--admin-token', 't']);
    expect([r.code, r.out]).toEqual([2, '']);
    expect(r.err).toContain("[usage] 'no-colon' is not an identity id");
  });
});

describe('errors from a real server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t?.stop());

  it('a wrong admin token is named as refused (admin_token_invalid), not as a bad session; under --json as JSON', async () => {
    const text = await run(['keys', 'lookup', 'bank:c-1', '--url', t.url, '--admin-token', 'not-the-token']);
    expect([text.code, text.out]).toEqual([1, '']);
    expect(text.err).toMatch(/^parley: \[admin_token_invalid\] the server refused the admin token/);
    expect(text.err).not.toContain('not-the-token');
    const json = await run(['keys', 'lookup', 'bank:c-1', '--url', t.url, '--admin-token', 'not-the-token', '--json']);
    expect([json.code, json.err]).toEqual([1, '']);
    expect(oneJson(json)).toEqual({ ok: false, error: { code: 'admin_token_invalid', message: expect.stringContaining('refused the admin token') } });
    const exported = await run(['audit', 'export', '--message', 'AAAAAAAAAAAAAAAAAAAAAA', '--server', t.url, '--admin-token', 'not-the-token']);
    expect([exported.code, exported.out]).toEqual([1, '']);
    expect(exported.err).toContain('[admin_token_invalid]');
  });

  it('--json success carries ok: true next to the fields it always had', async () => {
    const listed = await run(['log', 'list', '--url', t.url, '--json']);
    expect(listed.code).toBe(0);
    const json = oneJson(listed) as { ok: boolean; logs?: { name: string }[] };
    expect(json.ok).toBe(true);
    expect(json.logs!.map((l) => l.name).sort()).toEqual(['audit', 'keys']);
    const admin = oneJson(await run(['admin', 'businesses', 'list', '--server', t.url, '--admin-token', ADMIN_TOKEN, '--json'])) as { ok: boolean; businesses?: unknown[] };
    expect(admin.ok).toBe(true);
    expect(Array.isArray(admin.businesses)).toBe(true);
  });

  it('a server that cannot be reached: exit 1 and the reason, JSON under --json', async () => {
    const r = oneJson(await run(['log', 'list', '--url', 'http://127.0.0.1:1', '--json']));
    expect(r).toEqual({ ok: false, error: { code: 'unreachable', message: expect.stringContaining('cannot fetch') } });
  });
});

describe('npm run puts nothing of its own on stdout', () => {
  it('the repository .npmrc keeps npm’s script banner off stdout (what `npm run demo -- --json | jq .` needs)', async () => {
    // A cheap script of the same root package.json: stdout is the script's alone.
    // The environment of a plain shell: no npm_config_* inherited from an `npm test` around this run.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
    const { stdout } = await promisify(execFile)('npm', ['run', 'lint', '--', '--version'], { cwd: REPO, env, timeout: 60_000 });
    expect(stdout).toMatch(/^v\d+\.\d+\.\d+\n$/);
    const scripts = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    // The build before the demo writes to stderr only.
    expect(scripts['demo']).toMatch(/^npm run --silent build >&2 && parley demo$/);
    expect(scripts['parley']).toMatch(/^npm run --silent build >&2 && parley$/);
  }, 60_000);
});

/**
 * `parley admin …`: the operator's business administration over the admin API (admin
 * token): list, show, create, disable and enable businesses; add and retire their
 * enrollment keys. `--json` prints the API's own answer (its field names are stable) with `ok`;
 * otherwise short lines. A server refusal prints its code and exits 1 (errors.ts).
 * Only public keys are ever sent: a JWK file holding a private key (`d`) is refused.
 */
import { readFile } from 'node:fs/promises';
import { TransportError } from '@parley/client';
import { callAdminApi } from '../admin-http.js';
import { BUSINESS_ID_PATTERN, type BusinessSummary, type BusinessView, type EnrollmentKeyView } from '@parley/core';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, jsonResult, type ExitCode } from '../errors.js';

/**
 * Usage lines of `parley admin`.
 *
 * @example
 * process.stdout.write(ADMIN_USAGE);
 */
export const ADMIN_USAGE = `  parley admin businesses list|show ID|disable ID|enable ID --server URL [--admin-token T] [--json]
  parley admin businesses create ID --name N --key-file JWK_FILE [--kid K] --server URL [--admin-token T] [--json]
  parley admin keys add ID --kid K --jwk-file FILE | keys retire ID --kid K   --server URL [--admin-token T] [--json]`;

const USAGE = `Usage:\n${ADMIN_USAGE}\n\nThe admin token: --admin-token or PARLEY_ADMIN_TOKEN. Key files hold a public Ed25519 JWK ({"kty":"OKP","crv":"Ed25519","x":…}).`;

/** Where `parley admin` writes its lines (stdout by default; tests capture them). */
export interface AdminIo {
  out(line: string): void;
}

const processIo: AdminIo = { out: (line) => process.stdout.write(`${line}\n`) };

const BUSINESS_ID = new RegExp(BUSINESS_ID_PATTERN);
const KID = /^[A-Za-z0-9._-]{1,64}$/;
/** Pages are followed up to this many businesses (a bound on a misbehaving server). */
const MAX_LISTED = 100_000;

/** The admin API of one server, with the operator's token. */
class AdminApi {
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return callAdminApi(this.server, this.token, method, path, body, 30_000);
  }

  async business(id: string): Promise<BusinessView> {
    return checked(await this.call('GET', `/v1/admin/businesses/${encodeURIComponent(id)}`), isBusinessView);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isKeyView = (v: unknown): v is EnrollmentKeyView => isRecord(v) && typeof v['kid'] === 'string' && typeof v['createdAt'] === 'string' && isRecord(v['jwk']);
const isBusinessView = (v: unknown): v is BusinessView =>
  isRecord(v) && typeof v['id'] === 'string' && typeof v['name'] === 'string' && typeof v['status'] === 'string' && Array.isArray(v['keys']) && v['keys'].every(isKeyView);
const isSummary = (v: unknown): v is BusinessSummary => isRecord(v) && typeof v['id'] === 'string' && typeof v['name'] === 'string' && typeof v['keys'] === 'number';

function checked<T>(value: unknown, guard: (v: unknown) => v is T): T {
  if (!guard(value)) throw new TransportError('the server response does not match the admin API');
  return value;
}

/** The public Ed25519 JWK in `path`; a private key (`d`) is refused before anything is sent. */
async function readPublicJwk(path: string): Promise<{ kty: 'OKP'; crv: 'Ed25519'; x: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read a JWK from ${path} (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`);
  }
  if (!isRecord(parsed)) throw new UsageError(`${path} does not hold a JWK object`);
  if ('d' in parsed) throw new UsageError(`${path} holds a private key ("d"): pass the public JWK only (kty, crv, x); a private key never leaves the business`);
  if (parsed['kty'] !== 'OKP' || parsed['crv'] !== 'Ed25519' || typeof parsed['x'] !== 'string') {
    throw new UsageError(`${path} is not an Ed25519 public JWK ({"kty":"OKP","crv":"Ed25519","x":…})`);
  }
  return { kty: 'OKP', crv: 'Ed25519', x: parsed['x'] };
}

function keyLine(k: EnrollmentKeyView): string {
  return `  key ${k.kid.padEnd(12)} ${k.retiredAt ? `retired ${k.retiredAt}` : 'active '} created ${k.createdAt}`;
}

function businessLines(b: BusinessView): string[] {
  return [`${b.id}  ${b.status}${b.disabledAt ? ` since ${b.disabledAt}` : ''}  created ${b.createdAt}  name: ${b.name}`, ...b.keys.map(keyLine)];
}

/**
 * `parley admin businesses … | keys …`: one admin action against `--server`; returns the exit code.
 *
 * @example
 * process.exitCode = await runAdmin(['businesses', 'disable', 'example-bank', '--server', url, '--json']);
 */
export async function runAdmin(argv: readonly string[], io: AdminIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<ExitCode> {
  const [group, action, ...rest] = argv;
  const id = rest[0] !== undefined && !rest[0].startsWith('--') ? rest[0] : undefined;
  const flags = parseFlags(id === undefined ? rest : rest.slice(1), {
    server: { type: 'string' },
    'admin-token': { type: 'string' },
    json: { type: 'boolean', default: false },
    name: { type: 'string' },
    'key-file': { type: 'string' },
    'jwk-file': { type: 'string' },
    kid: { type: 'string' },
  });
  const needsId = !(group === 'businesses' && action === 'list');
  const known =
    (group === 'businesses' && ['list', 'show', 'create', 'disable', 'enable'].includes(action ?? '')) || (group === 'keys' && ['add', 'retire'].includes(action ?? ''));
  if (!known) throw new UsageError(`${group === undefined ? 'a subcommand is required' : `unknown subcommand 'admin ${[group, action].filter(Boolean).join(' ')}'`}\n${USAGE}`);
  if (needsId && id === undefined) throw new UsageError(`${group} ${action} needs a business id\n${USAGE}`);
  if (!needsId && id !== undefined) throw new UsageError(`businesses list takes no id\n${USAGE}`);
  if (id !== undefined && !BUSINESS_ID.test(id)) throw new UsageError(`'${id}' is not a business id (${BUSINESS_ID_PATTERN})`);
  if (flags.kid !== undefined && !KID.test(flags.kid)) throw new UsageError(`--kid '${flags.kid}' is not a key id (${KID.source})`);
  // Flags of another action are a mistake, not something to ignore.
  const allowed: Record<string, readonly string[]> = { create: ['name', 'key-file', 'kid'], add: ['kid', 'jwk-file'], retire: ['kid'] };
  const extra = ['name', 'key-file', 'jwk-file', 'kid'].filter((f) => flags[f as keyof typeof flags] !== undefined && !(allowed[action!] ?? []).includes(f));
  if (extra.length > 0) throw new UsageError(`${group} ${action} takes no --${extra.join(', --')}\n${USAGE}`);
  if (!flags.server) throw new UsageError(`--server is required\n${USAGE}`);
  const token = flags['admin-token'] ?? env['PARLEY_ADMIN_TOKEN'];
  if (!token) throw new UsageError('an admin token is required (--admin-token or PARLEY_ADMIN_TOKEN)');
  const api = new AdminApi(parseServerUrl(flags.server, '--server'), token);
  const path = id === undefined ? '' : `/v1/admin/businesses/${encodeURIComponent(id)}`;
  const print = (json: unknown, lines: string[]) => {
    if (flags.json) io.out(jsonResult(json as object));
    else for (const line of lines) io.out(line);
    return 0 as const;
  };

  if (group === 'businesses') {
    switch (action) {
      case 'list': {
        const businesses: BusinessSummary[] = [];
        let after: string | undefined;
        do {
          const page = await api.call('GET', `/v1/admin/businesses?limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`);
          if (!isRecord(page) || !Array.isArray(page['businesses']) || !page['businesses'].every(isSummary)) throw new TransportError('the server response does not match the admin API');
          businesses.push(...page['businesses']);
          const next = page['next'];
          after = typeof next === 'string' && next !== after ? next : undefined;
        } while (after !== undefined && businesses.length < MAX_LISTED);
        return print(
          { businesses },
          businesses.length === 0 ? ['no businesses'] : businesses.map((b) => `${b.id.padEnd(24)} ${b.status.padEnd(8)} keys ${String(b.keys).padEnd(3)} ${b.name}`),
        );
      }
      case 'show': {
        const view = await api.business(id!);
        return print(view, businessLines(view));
      }
      case 'create': {
        if (!flags.name) throw new UsageError(`businesses create needs --name\n${USAGE}`);
        if (!flags['key-file']) throw new UsageError(`businesses create needs --key-file JWK_FILE\n${USAGE}`);
        const jwk = await readPublicJwk(flags['key-file']);
        await api.call('POST', '/v1/admin/businesses', { id, name: flags.name, enrollmentKeys: [{ kid: flags.kid ?? 'k1', jwk }] });
        const view = await api.business(id!);
        return print(view, [`created ${id}`, ...businessLines(view)]);
      }
      default: {
        const view = checked(await api.call('POST', `${path}/${action}`), isBusinessView);
        return print(view, [`${action}d ${id}`, ...businessLines(view)]);
      }
    }
  }
  if (!flags.kid) throw new UsageError(`keys ${action} needs --kid K\n${USAGE}`);
  if (action === 'add') {
    if (!flags['jwk-file']) throw new UsageError(`keys add needs --jwk-file FILE\n${USAGE}`);
    const jwk = await readPublicJwk(flags['jwk-file']);
    const key = checked(await api.call('POST', `${path}/keys`, { kid: flags.kid, jwk }), isKeyView);
    return print(key, [`added key ${key.kid} to ${id}`, keyLine(key)]);
  }
  const key = checked(await api.call('DELETE', `${path}/keys/${encodeURIComponent(flags.kid)}`), isKeyView);
  return print(key, [`retired key ${key.kid} of ${id}: its tokens are refused from now on`, keyLine(key)]);
}

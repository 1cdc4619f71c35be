/**
 * `parley escrow …` (docs/escrow.md): officer keys, an M-of-N escrow key for a business,
 * requests to open an escrowed message, officers' approvals, the opening, and the list.
 * Transport: the admin token (`--admin-token` or PARLEY_ADMIN_TOKEN); the substance is
 * authorised by the officers' signatures. Secrets (officer and requester key files, an
 * opened plaintext written with --out) are 0600 files; nothing secret is ever sent: the
 * escrow private key exists only in `init` (split, sealed, zeroed) and in `open` (combined,
 * used, zeroed).
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BUSINESS_ID_PATTERN, MESSAGE_ID_PATTERN, fromBase64, toBase64Url, type EscrowRequestView } from '@parley/core';
import {
  ESCROW_REQUEST_ID_PATTERN,
  createEscrowKey,
  createEscrowOfficer,
  generateHpkeKeyPair,
  hpkePublicKeyOf,
  parseEscrowOfficer,
  parseEscrowOfficerKeyFile,
  type EscrowOfficer,
} from '@parley/core/escrow';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, jsonResult, type ExitCode } from '../errors.js';
import { createPrivateFile, readPrivateText, writePrivateFile } from '../private-files.js';
import { EscrowApi } from './escrow-api.js';
import { approveRequest, checkedRequest, EscrowCheckError, openReleased } from './escrow-open.js';

/**
 * Usage lines of `parley escrow`.
 *
 * @example
 * process.stdout.write(ESCROW_USAGE);
 */
export const ESCROW_USAGE = `  parley escrow officer-key --out FILE [--name NAME]
  parley escrow init --server URL --business ID --officer PUB.json [--officer PUB.json]… --approvals M [--admin-token T] [--json]
  parley escrow request --server URL --message ID --reason TEXT --key-out FILE [--admin-token T] [--json]
  parley escrow approve --server URL --request ID --officer-key FILE [--admin-token T] [--json]
  parley escrow open --server URL --request ID --key FILE [--out FILE] [--admin-token T] [--json]
  parley escrow list --server URL [--message ID] [--admin-token T] [--json]`;

const USAGE = `Usage:\n${ESCROW_USAGE}\n\nThe admin token: --admin-token or PARLEY_ADMIN_TOKEN.`;

/** Where `parley escrow` writes (stdout and stderr by default; tests capture them). */
export interface EscrowIo {
  out(line: string): void;
  err(line: string): void;
}

const processIo: EscrowIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

const REQUEST_ID = new RegExp(ESCROW_REQUEST_ID_PATTERN);
const FLAGS = {
  server: { type: 'string' },
  'admin-token': { type: 'string' },
  json: { type: 'boolean', default: false },
  out: { type: 'string' },
  name: { type: 'string' },
  business: { type: 'string' },
  officer: { type: 'string', multiple: true },
  approvals: { type: 'string' },
  message: { type: 'string' },
  reason: { type: 'string' },
  'key-out': { type: 'string' },
  request: { type: 'string' },
  'officer-key': { type: 'string' },
  key: { type: 'string' },
} as const;
type Flag = keyof typeof FLAGS;
const ALLOWED: Record<string, readonly Flag[]> = {
  'officer-key': ['out', 'name', 'json'],
  init: ['server', 'admin-token', 'json', 'business', 'officer', 'approvals'],
  request: ['server', 'admin-token', 'json', 'message', 'reason', 'key-out'],
  approve: ['server', 'admin-token', 'json', 'request', 'officer-key'],
  open: ['server', 'admin-token', 'json', 'request', 'key', 'out'],
  list: ['server', 'admin-token', 'json', 'message'],
};

/** A requester's key file (`--key-out`): its ephemeral X25519 key pair and, once known, the request id. */
interface RequesterKeyFile {
  v: 1;
  type: 'parley-escrow-requester';
  publicKey: string;
  privateKey: string;
  requestId?: string;
}

function parseRequesterKeyFile(text: string, path: string): RequesterKeyFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not a requester key file (JSON)`);
  }
  const v = value as Partial<RequesterKeyFile>;
  if (v.type !== 'parley-escrow-requester' || typeof v.publicKey !== 'string' || typeof v.privateKey !== 'string') {
    throw new UsageError(`${path} is not a requester key file (parley escrow request --key-out)`);
  }
  let matches = false;
  try {
    matches = toBase64Url(hpkePublicKeyOf(fromBase64(v.privateKey))) === v.publicKey;
  } catch {
    matches = false;
  }
  if (!matches) throw new UsageError(`${path}: its private key is not its public key's`);
  return v as RequesterKeyFile;
}

async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read ${what} from ${path} (${(error as NodeJS.ErrnoException).code ?? 'not JSON'})`);
  }
}

function viewLines(v: EscrowRequestView): string[] {
  const r = v.request;
  const audit = [v.audit.request !== undefined ? `request@${v.audit.request}` : '', v.audit.open !== undefined ? `open@${v.audit.open}` : ''].filter(Boolean).join(' ');
  return [
    `${r.requestId}  ${v.status.padEnd(8)} ${v.approvals.length}/${v.threshold} approvals  message ${r.messageId}  business ${v.businessId}  created ${v.createdAt}${v.openedAt ? `  opened ${v.openedAt}` : ''}  audit ${audit || '-'}`,
    `  reason: ${r.reason}`,
    ...v.approvals.map((a) => `  approved by ${a.officerId} at ${a.approvedAt}  audit ${a.audit.index !== undefined ? `@${a.audit.index}` : '-'}`),
  ];
}

/**
 * `parley escrow officer-key | init | request | approve | open | list`; returns the exit code.
 *
 * @example
 * process.exitCode = await runEscrow(['list', '--server', url, '--json']);
 */
export async function runEscrow(argv: readonly string[], io: EscrowIo = processIo, env: NodeJS.ProcessEnv = process.env): Promise<ExitCode> {
  const [action, ...rest] = argv;
  if (action === undefined || !(action in ALLOWED)) throw new UsageError(`${action === undefined ? 'a subcommand is required' : `unknown subcommand 'escrow ${action}'`}\n${USAGE}`);
  const flags = parseFlags(rest, FLAGS);
  const extra = (Object.keys(FLAGS) as Flag[]).filter((f) => f !== 'json' && flags[f] !== undefined && !ALLOWED[action]!.includes(f));
  if (extra.length > 0) throw new UsageError(`escrow ${action} takes no --${extra.join(', --')}\n${USAGE}`);
  const print = (json: unknown, lines: string[]) => {
    if (flags.json) io.out(jsonResult(json as object));
    else lines.forEach((l) => io.out(l));
  };

  if (action === 'officer-key') {
    if (!flags.out) throw new UsageError(`--out is required\n${USAGE}`);
    const { officer, keyFile } = await createEscrowOfficer(flags.name ?? 'officer');
    if (!(await createPrivateFile(resolve(flags.out), `${JSON.stringify(keyFile, null, 2)}\n`))) throw new UsageError(`${flags.out} exists: an officer key is never overwritten`);
    // The public record, to hand to whoever runs `escrow init`.
    io.out(JSON.stringify(officer));
    return 0;
  }

  if (!flags.server) throw new UsageError(`--server is required\n${USAGE}`);
  const token = flags['admin-token'] ?? env['PARLEY_ADMIN_TOKEN'];
  if (!token) throw new UsageError('an admin token is required (--admin-token or PARLEY_ADMIN_TOKEN)');
  const api = new EscrowApi(parseServerUrl(flags.server, '--server'), token);
  const requestId = (): string => {
    if (!flags.request || !REQUEST_ID.test(flags.request)) throw new UsageError(`--request must be a request id (esr_…)\n${USAGE}`);
    return flags.request;
  };
  const messageId = (required: boolean): string | undefined => {
    if (flags.message === undefined) {
      if (required) throw new UsageError(`--message is required\n${USAGE}`);
      return undefined;
    }
    if (!new RegExp(MESSAGE_ID_PATTERN).test(flags.message)) throw new UsageError(`--message '${flags.message}' is not a message id`);
    return flags.message;
  };

  switch (action) {
    case 'init': {
      if (!flags.business || !new RegExp(BUSINESS_ID_PATTERN).test(flags.business)) throw new UsageError(`--business must be a business id\n${USAGE}`);
      const files = flags.officer ?? [];
      const approvals = Number(flags.approvals);
      if (!/^\d+$/.test(flags.approvals ?? '') || approvals < 2 || approvals > files.length) {
        throw new UsageError(`--approvals M needs 2 ≤ M ≤ the number of --officer records (${files.length})`);
      }
      const officers: EscrowOfficer[] = [];
      for (const f of files) {
        try {
          officers.push(parseEscrowOfficer(await readJson(resolve(f), 'an officer record')));
        } catch (error) {
          throw error instanceof UsageError ? error : new UsageError(`${f} is not an officer's public record (parley escrow officer-key prints one)`);
        }
      }
      if (new Set(officers.map((o) => o.officerId)).size !== officers.length) throw new UsageError('an officer is named twice');
      // The private key lives only inside createEscrowKey: split, sealed to the officers, zeroed.
      const record = await createEscrowKey({ businessId: flags.business, officers, threshold: approvals });
      const registered = await api.registerKey(flags.business, record);
      const policy = { escrow: { key: record.keyId, approvals } };
      print({ ...registered, businessId: flags.business, officers: officers.map((o) => o.officerId), policy }, [
        `escrow key ${record.keyId}  ${approvals}-of-${officers.length}  business ${flags.business}  audit index ${registered.audit.index}`,
        `policy (routing config, businesses.${flags.business}.policies.<class>): ${JSON.stringify(policy)}`,
      ]);
      return 0;
    }
    case 'request': {
      const message = messageId(true)!;
      if (!flags.reason) throw new UsageError(`--reason is required\n${USAGE}`);
      if (!flags['key-out']) throw new UsageError(`--key-out FILE is required (the requester's key; open needs it)\n${USAGE}`);
      const path = resolve(flags['key-out']);
      const pair = await generateHpkeKeyPair();
      const file: RequesterKeyFile = { v: 1, type: 'parley-escrow-requester', publicKey: toBase64Url(pair.publicKey), privateKey: toBase64Url(pair.privateKey) };
      pair.privateKey.fill(0);
      // Saved before the request exists: a request whose key is lost could never be opened.
      if (!(await createPrivateFile(path, `${JSON.stringify(file)}\n`))) throw new UsageError(`${flags['key-out']} exists: a requester key is never overwritten`);
      const view = await api.createRequest({ messageId: message, reason: flags.reason, requesterKey: file.publicKey });
      await writePrivateFile(path, `${JSON.stringify({ ...file, requestId: view.request.requestId })}\n`);
      print(view, [`request ${view.request.requestId}  message ${message}  needs ${view.threshold} approvals  audit index ${view.audit.request ?? '-'}`]);
      return 0;
    }
    case 'approve': {
      const id = requestId();
      if (!flags['officer-key']) throw new UsageError(`--officer-key FILE is required\n${USAGE}`);
      const keyPath = resolve(flags['officer-key']);
      let file;
      try {
        file = parseEscrowOfficerKeyFile(JSON.parse(await readPrivateText(keyPath, 'officer key file')));
      } catch (error) {
        if (error instanceof SyntaxError || (error as { code?: string }).code === 'invalid_escrow_officer') throw new UsageError(`${flags['officer-key']} is not an officer key file`);
        throw error;
      }
      const checked = await checkedRequest(api, id);
      // What the officer approves, shown before anything is signed.
      io.err(`request ${id}: open message ${checked.request.messageId} of business ${checked.key.businessId}; reason: ${checked.request.reason}`);
      const body = await approveRequest(checked, file);
      const result = await api.approve(id, body);
      print({ requestId: id, officerId: file.officer.officerId, ...result }, [
        `approved ${id} as ${file.officer.officerId}: ${result.approvals}/${result.threshold} approvals  audit index ${result.audit.index}`,
      ]);
      return 0;
    }
    case 'open': {
      const id = requestId();
      if (!flags.key) throw new UsageError(`--key FILE is required (from escrow request --key-out)\n${USAGE}`);
      const keyFile = parseRequesterKeyFile(await readPrivateText(resolve(flags.key), 'requester key file'), flags.key);
      const checked = await checkedRequest(api, id);
      if (checked.request.requesterKey !== keyFile.publicKey) throw new EscrowCheckError(`request ${id} was made for another requester key than ${flags.key}'s`);
      const privateKey = fromBase64(keyFile.privateKey);
      try {
        const opened = await openReleased(checked, await api.open(id), privateKey);
        if (flags.out) await writePrivateFile(resolve(flags.out), opened.plaintext);
        const summary = { requestId: id, messageId: opened.messageId, approvals: opened.officers, audit: { index: opened.auditIndex } };
        if (flags.json) io.out(jsonResult(flags.out ? summary : { ...summary, plaintext: opened.plaintext }));
        else if (flags.out) io.out(`opened ${opened.messageId} under ${opened.officers.length} approvals (audit index ${opened.auditIndex}); plaintext written to ${flags.out}`);
        else {
          io.err(`opened ${opened.messageId} under ${opened.officers.length} approvals (audit index ${opened.auditIndex})`);
          io.out(opened.plaintext);
        }
      } finally {
        privateKey.fill(0);
      }
      return 0;
    }
    case 'list': {
      const views = await api.list(messageId(false));
      print({ requests: views }, views.length === 0 ? ['no escrow requests'] : views.flatMap(viewLines));
      return 0;
    }
  }
  throw new UsageError(USAGE);
}

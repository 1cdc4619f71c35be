/**
 * `parley audit verify <bundle.json>`: checks an evidence bundle offline — no network at
 * all — against the logs' verifier keys the auditor obtained out of band, prints every
 * check, and exits 0 only when all of them passed (1 otherwise, 2 for usage errors).
 * The checks themselves are `verifyEvidenceBundle` in `@parley/core/audit`.
 */
import { readFile } from 'node:fs/promises';
import { fromHex, fromUtf8 } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceReport, type EvidenceReveal, type EvidenceTrust } from '@parley/core/audit';
import { parseVerifierKey } from '@parley/core/tlog';
import { parseFlags } from '../args.js';
import { UsageError, type ExitCode } from '../errors.js';

/** Where `parley audit` writes and reads (the process by default; tests pass their own). */
export interface AuditIo {
  out(line: string): void;
  err(line: string): void;
  /** All of standard input, for `-` as a file name. */
  readStdin(): Promise<Uint8Array>;
}

/**
 * Usage lines of `parley audit verify`.
 *
 * @example
 * io.out(AUDIT_VERIFY_USAGE);
 */
export const AUDIT_VERIFY_USAGE = `  parley audit verify <bundle.json | -> --log-key AUDIT_VKEY --key-log-key KEY_LOG_VKEY --vrf-key B64
                      [--plaintext FILE --opening HEX] [--json]
  parley audit verify <bundle.json | -> --log-key VKEY --log-key VKEY --vrf-key B64 …   (each log key matched to its log by name = origin)`;

/**
 * The help of `parley audit verify`: its usage and what it checks.
 *
 * @example
 * io.out(AUDIT_VERIFY_HELP);
 */
export const AUDIT_VERIFY_HELP = `Usage:
${AUDIT_VERIFY_USAGE}

Checks, offline, the bundle's signed checkpoints, the sender's and recipient's key-log
entries (VRF label, inclusion, replay), the commitment signature and its audit-log entry,
and every receipt. --plaintext and --opening (64 hex digits) check a revealed message
against the commitment; the file is read as exact UTF-8 bytes (mind a final newline).
--vrf-key is the key directory's VRF key (GET /v1/keys, obtained out of band like the log
keys): without it the labels would be checked against the bundle's own key, which proves
nothing, so it is required.`;

const USAGE = AUDIT_VERIFY_HELP;

async function readInput(path: string, io: AuditIo, what: string): Promise<Uint8Array> {
  if (path === '-') return io.readStdin();
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new UsageError(`cannot read the ${what} '${path}' (${(error as { code?: string }).code ?? 'error'})`);
  }
}

/** The first line of a checkpoint note, unverified: only to match a key to its log. */
function originOf(note: unknown): string | undefined {
  return typeof note === 'string' ? note.split('\n', 1)[0] : undefined;
}

function nameOf(key: string): string {
  try {
    return parseVerifierKey(key).name;
  } catch {
    // Never echo the argument: a signer key pasted by mistake is a secret.
    throw new UsageError('a log key is not a signed-note verifier key (<name>+<hex id>+<base64 key>)');
  }
}

/**
 * With two `--log-key`s, each log gets the key named for its checkpoint's origin; a key that
 * matches neither is still tried (and the report says `wrong_origin` or
 * `bad_checkpoint_signature`).
 */
function matchKeys(keys: readonly string[], bundle: unknown): { auditLogKey: string; keyLogKey: string } {
  const b = bundle as { auditCheckpoint?: unknown; keyLog?: { checkpoint?: unknown } } | null;
  const auditOrigin = originOf(b?.auditCheckpoint);
  const keyOrigin = originOf(b?.keyLog?.checkpoint);
  const names = keys.map(nameOf);
  let audit = names.findIndex((n) => n === auditOrigin);
  let keyLog = names.findIndex((n, i) => n === keyOrigin && i !== audit);
  if (audit < 0) audit = keyLog === 0 ? 1 : 0;
  if (keyLog < 0) keyLog = audit === 0 ? 1 : 0;
  return { auditLogKey: keys[audit]!, keyLogKey: keys[keyLog]! };
}

function parseJson(bytes: Uint8Array): unknown {
  // Malformed JSON is reported by the verifier as a failed `bundle-format` check.
  try {
    return JSON.parse(fromUtf8(bytes)) as unknown;
  } catch {
    return bytes;
  }
}

/**
 * One line: who sent what to whom when, and where it arrived.
 *
 * @example
 * summarize(report) // 'example-bank:notifications sent an otp message to example-bank:c-1001 at …; delivered to 2 devices, read on 1'
 */
export function summarize(report: EvidenceReport): string {
  const m = report.message;
  if (m === null) return 'not an evidence bundle';
  const verified = report.receipts.filter((r) => r.verified);
  const devices = (statuses: readonly string[]) => new Set(verified.filter((r) => statuses.includes(r.status)).map((r) => r.deviceId)).size;
  const delivered = devices(['delivered', 'read']);
  const read = devices(['read']);
  const mismatch = devices(['commitment-mismatch']);
  const plural = (n: number) => `${n} device${n === 1 ? '' : 's'}`;
  const article = /^[aeiou]/.test(m.class) ? 'an' : 'a';
  if (m.conversationId.startsWith('web_')) {
    // A web-link message (Sender.sendToWeb): read in a browser, which holds no device key to sign receipts with.
    return `${m.sender} sent ${article} ${m.class} message to ${m.recipient} at ${m.createdAt} by web link; no receipts (the web page holds no device key)`;
  }
  return (
    `${m.sender} sent ${article} ${m.class} message to ${m.recipient} at ${m.createdAt}; delivered to ${plural(delivered)}, read on ${read}` +
    (mismatch > 0 ? `; ${plural(mismatch)} reported that the content did not match the commitment` : '')
  );
}

/**
 * Runs `parley audit verify …` (arguments after `verify`) and returns the exit code.
 *
 * @example
 * const code = await runAuditVerify(['bundle.json', '--log-key', a, '--log-key', b, '--json'], io);
 */
export async function runAuditVerify(argv: readonly string[], io: AuditIo): Promise<ExitCode> {
  const [file, ...rest] = argv;
  if (file === undefined || (file.startsWith('-') && file !== '-')) throw new UsageError(`audit verify needs the bundle file (or - for stdin) first\n${USAGE}`);
  const flags = parseFlags(rest, {
    'log-key': { type: 'string', multiple: true },
    'key-log-key': { type: 'string' },
    'vrf-key': { type: 'string' },
    plaintext: { type: 'string' },
    opening: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const logKeys = flags['log-key'] ?? [];
  if (flags['key-log-key'] !== undefined ? logKeys.length !== 1 : logKeys.length !== 2) {
    throw new UsageError(`give --log-key and --key-log-key, or --log-key twice\n\n${USAGE}`);
  }
  // A check that was not made must not look passed: no verification against the bundle's own VRF key.
  if (flags['vrf-key'] === undefined) throw new UsageError(`pass --vrf-key too (the key directory's VRF key, with the log keys)\n\n${USAGE}`);
  if ((flags.plaintext === undefined) !== (flags.opening === undefined)) throw new UsageError('--plaintext and --opening go together');
  if (flags.plaintext === '-' && file === '-') throw new UsageError('only one of the bundle and the plaintext can be read from stdin');
  let reveal: EvidenceReveal | undefined;
  if (flags.plaintext !== undefined && flags.opening !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(flags.opening)) throw new UsageError('--opening must be 64 hex digits (32 bytes)');
    let plaintext: string;
    try {
      plaintext = fromUtf8(await readInput(flags.plaintext, io, 'plaintext'));
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError('the plaintext file is not UTF-8');
    }
    reveal = { plaintext, opening: fromHex(flags.opening) };
  }
  const bundle = parseJson(await readInput(file, io, 'bundle'));
  for (const key of [...logKeys, ...(flags['key-log-key'] ? [flags['key-log-key']] : [])]) nameOf(key);
  const keys = flags['key-log-key'] !== undefined ? { auditLogKey: logKeys[0]!, keyLogKey: flags['key-log-key'] } : matchKeys(logKeys, bundle);
  const trust: EvidenceTrust = { ...keys, vrfPublicKey: flags['vrf-key'] };

  const report = verifyEvidenceBundle(bundle, trust, reveal);
  if (flags.json) {
    // On failure, the first failed check names the error (the report's fields stay as they are).
    const failed = report.checks.find((c) => !c.ok);
    const error = failed ? { code: failed.code ?? 'verification_failed', message: `${failed.name}${failed.detail ? `: ${failed.detail}` : ''}` } : undefined;
    io.out(JSON.stringify(report.ok ? report : { ...report, error: error ?? { code: 'verification_failed', message: 'the bundle did not verify' } }));
    return report.ok ? 0 : 1;
  }
  for (const c of report.checks) {
    io.out(`${c.ok ? '✔' : '✘'} ${c.name}${c.ok ? '' : ` [${c.code ?? 'failed'}]`}${c.detail ? ` — ${c.detail}` : ''}`);
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  io.out(
    report.ok
      ? `✔ verified: ${summarize(report)}`
      : `✘ NOT verified (${failed} of ${report.checks.length} checks failed)${report.message ? `; the bundle claims: ${summarize(report)}` : ''}`,
  );
  return report.ok ? 0 : 1;
}

/**
 * `parley audit export --message ID`: fetches the evidence bundle of a business
 * message and writes it as JSON to standard output (or `--out FILE`), ready for
 * `parley audit verify`. Either as the operator (`--admin-token`, or
 * PARLEY_ADMIN_TOKEN) or as a device that sent or received the message
 * (`--store DIR`, passphrase in PARLEY_STORE_PASSPHRASE): only a device holds the
 * opening, so only `--store` can `--reveal` it together with the plaintext.
 */
import { ApiClient, Device } from '@parley/client';
import { FileKeyStore, nodeRuntime } from '@parley/client/node';
import type { EvidenceBundle } from '@parley/core/audit';
import { explainRefusedAdminToken } from '../admin-http.js';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, type ExitCode } from '../errors.js';
import type { AuditIo } from './audit-verify.js';
import { writePrivateFile } from '../private-files.js';

/**
 * Usage lines of `parley audit export`.
 *
 * @example
 * io.out(AUDIT_EXPORT_USAGE);
 */
export const AUDIT_EXPORT_USAGE = `  parley audit export --message ID [--server URL] [--admin-token T] [--out FILE]
  parley audit export --message ID --store DIR [--reveal] [--server URL] [--out FILE]   (passphrase: PARLEY_STORE_PASSPHRASE)`;

const MESSAGE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * `parley audit export …`: writes the message's evidence bundle as JSON (stdout or `--out`, 0600); returns the exit code.
 *
 * @example
 * process.exitCode = await runAuditExport(['--message', id, '--server', url], io);
 */
export async function runAuditExport(argv: readonly string[], io: AuditIo, env: NodeJS.ProcessEnv = process.env): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    message: { type: 'string' },
    server: { type: 'string' },
    url: { type: 'string' },
    'admin-token': { type: 'string' },
    store: { type: 'string' },
    reveal: { type: 'boolean', default: false },
    out: { type: 'string' },
  });
  const messageId = flags.message;
  if (!messageId) throw new UsageError(`--message ID is required\n${AUDIT_EXPORT_USAGE}`);
  if (!MESSAGE_ID.test(messageId)) throw new UsageError(`--message '${messageId}' is malformed: a message id is 16–64 characters of A–Z, a–z, 0–9, _ and -`);
  if (flags.server !== undefined && flags.url !== undefined) throw new UsageError('use either --server or --url');
  const server = flags.server !== undefined ? parseServerUrl(flags.server, '--server') : flags.url !== undefined ? parseServerUrl(flags.url, '--url') : undefined;
  let bundle: EvidenceBundle;
  if (flags.store !== undefined) {
    const passphrase = env['PARLEY_STORE_PASSPHRASE'];
    if (!passphrase) throw new UsageError('--store needs the store passphrase in PARLEY_STORE_PASSPHRASE');
    // Progress on stderr: stdout is the bundle.
    io.err(`opening the device store ${flags.store} and fetching the evidence of ${messageId}…`);
    const store = await FileKeyStore.open(flags.store, { passphrase });
    try {
      const device = await Device.open({ store, ...nodeRuntime, ...(server ? { serverUrl: server } : {}) });
      try {
        bundle = await device.exportEvidence(messageId, { reveal: flags.reveal === true });
      } finally {
        await device.close();
      }
    } finally {
      await store.close();
    }
  } else {
    if (flags.reveal) throw new UsageError('--reveal needs --store: only the sending or receiving device holds the opening');
    if (!server) throw new UsageError(`--server is required without --store\n${AUDIT_EXPORT_USAGE}`);
    const token = flags['admin-token'] ?? env['PARLEY_ADMIN_TOKEN'];
    if (!token) throw new UsageError('an admin token is required (--admin-token or PARLEY_ADMIN_TOKEN), or a device --store');
    const api = new ApiClient({ serverUrl: server });
    api.useSession(async () => token);
    io.err(`fetching the evidence of ${messageId} from ${server}…`);
    bundle = await api.evidence(messageId).catch((error: unknown) => explainRefusedAdminToken(server, token, error));
  }
  const json = `${JSON.stringify(bundle, null, 2)}\n`;
  if (flags.out !== undefined) {
    await writePrivateFile(flags.out, json); // 0600 even over an existing file: a revealed bundle holds the plaintext
    io.err(`evidence bundle of ${messageId} written to ${flags.out} (${bundle.receipts.length} receipts${bundle.opening ? ', opening revealed' : ''})`);
  } else {
    io.out(json.trimEnd());
  }
  return 0;
}

/**
 * `parley keys lookup <identity>`: looks an identity up in the key directory and
 * verifies the answer as a device would — the VRF proof of its label (RFC 9381),
 * the signed checkpoint, every entry's inclusion proof (RFC 9162) and the replay
 * of its entries — then prints its devices. Uses the operator's admin token.
 */
import { isParleyError, parseIdentityId, type IdentityId } from '@parley/core';
import { ApiClient, KeyLogVerifier, MemoryKeyStore, type KeyDirectoryAnchors } from '@parley/client';
import { explainRefusedAdminToken } from '../admin-http.js';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, jsonResult, type ExitCode } from '../errors.js';

/**
 * Usage line of `parley keys`.
 *
 * @example
 * process.stdout.write(`Usage:\n${KEYS_USAGE}\n`);
 */
export const KEYS_USAGE = `  parley keys lookup <business:customer> --url URL [--admin-token T] [--log-key VKEY --vrf-key B64] [--json]   (both keys or neither)`;

const USAGE = `Usage:\n${KEYS_USAGE}`;

/** The identity argument; a malformed one is a usage error (it never reaches the server). */
function identityArgument(value: string): IdentityId {
  try {
    return parseIdentityId(value);
  } catch (error) {
    if (isParleyError(error)) throw new UsageError(`'${value}' is not an identity id (business:customer): ${error.message}\n${USAGE}`);
    throw error;
  }
}

/**
 * `parley keys lookup <identity> …`: the identity's devices, verified against the key log as a device would; returns the exit code.
 *
 * @example
 * process.exitCode = await runKeys(['lookup', 'example-bank:c-1001', '--url', url]);
 */
export async function runKeys(argv: readonly string[]): Promise<ExitCode> {
  const [sub, ...rest] = argv;
  if (sub !== 'lookup') throw new UsageError(`${sub === undefined ? 'a subcommand is required' : `unknown subcommand 'keys ${sub}'`}\n${USAGE}`);
  const identity = rest[0];
  if (identity === undefined || identity.startsWith('--')) throw new UsageError(`keys lookup needs an identity (business:customer)\n${USAGE}`);
  const flags = parseFlags(rest.slice(1), {
    url: { type: 'string' },
    'admin-token': { type: 'string' },
    'log-key': { type: 'string' },
    'vrf-key': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (!flags.url) throw new UsageError(`--url is required\n${USAGE}`);
  const url = parseServerUrl(flags.url, '--url');
  // Half a pin verifies nothing more than none, and would look as if it did.
  if ((flags['log-key'] === undefined) !== (flags['vrf-key'] === undefined)) {
    throw new UsageError(`pass both --log-key and --vrf-key (the key directory's keys, obtained out of band), or neither\n${USAGE}`);
  }
  const token = flags['admin-token'] ?? process.env['PARLEY_ADMIN_TOKEN'];
  if (!token) throw new UsageError('an admin token is required (--admin-token or PARLEY_ADMIN_TOKEN)');
  const identityId = identityArgument(identity);
  const api = new ApiClient({ serverUrl: url });
  api.useSession(async () => token);
  // The lookup takes the admin token or a device session: a refused token reads as a bad session, so say which it was.
  const info = await api.keyDirectoryInfo().catch((error: unknown) => explainRefusedAdminToken(url, token, error));
  const pinned = flags['log-key'] !== undefined;
  const anchors: KeyDirectoryAnchors = {
    log: info.log,
    origin: info.origin,
    prefix: `/logs/${info.log}`,
    logVerifierKey: flags['log-key'] ?? info.verifierKey,
    vrfPublicKey: flags['vrf-key'] ?? info.vrfPublicKey,
  };
  const verified = await new KeyLogVerifier(api, new MemoryKeyStore(), anchors)
    .lookup(identityId)
    .catch((error: unknown) => explainRefusedAdminToken(url, token, error));
  const devices = [...verified.devices.values()].map((d) => ({
    deviceId: d.deviceId,
    kind: d.kind,
    status: d.status,
    addedAt: d.addedAt,
    ...(d.approvedBy ? { approvedBy: d.approvedBy } : {}),
    ...(d.revokedBy ? { revokedBy: d.revokedBy } : {}),
    // Signed key rotations (docs/key-rotation.md): where each replaced key was retired.
    ...(d.previousKeys.length > 0 ? { rotatedAt: d.previousKeys.map((k) => k.rotatedAt) } : {}),
  }));
  if (flags.json) {
    // `keysVerified: false`: the checks ran against the keys the server itself listed.
    process.stdout.write(`${jsonResult({ identityId, treeSize: verified.checkpoint.size, pinned, keysVerified: pinned, devices })}\n`);
    return 0;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  if (pinned) {
    say('✔ keys: the log key and the VRF key given with --log-key and --vrf-key');
    say(`✔ VRF proof: the label belongs to ${identityId}`);
    say(`✔ checkpoint signed by ${info.origin}, tree size ${verified.checkpoint.size}`);
  } else {
    say('! keys NOT verified: the log key and the VRF key are the ones the server lists (unpinned); pass --log-key and --vrf-key obtained out of band');
    say(`! VRF proof: checked only against the server's own VRF key (unpinned)`);
    say(`! checkpoint signed by the server's own log key (unpinned: ${info.origin}), tree size ${verified.checkpoint.size}`);
  }
  // Inclusion and the entries' attestations rest on the log key: verified only when it is pinned.
  say(`${pinned ? '✔' : '!'} every entry is included in the signed tree; ${devices.length} device(s) replayed with every signature checked${pinned ? '' : ' (against the unpinned log key)'}`);
  for (const d of devices) {
    const rotated = d.rotatedAt ? ` keys rotated at log #${d.rotatedAt.join(', #')} (signed by the previous key)` : '';
    say(`  ${d.deviceId}  ${d.kind.padEnd(8)} ${d.status.padEnd(8)} log #${d.addedAt}${d.approvedBy ? ` approved by ${d.approvedBy}` : ''}${rotated}${d.revokedBy ? ` revoked (${d.revokedBy})` : ''}`);
  }
  return 0;
}

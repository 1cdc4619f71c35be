/**
 * `parley audit monitor --url URL`: follows both of the server's transparency logs
 * — `keys` (the key directory) and `audit` (commitments and receipts) — over time.
 * Each round verifies every log's signed checkpoint, every tile and entry bundle
 * against it, and its consistency with the checkpoint verified in the previous
 * round (kept in `--state`); a fork or a rollback fails loudly with a named reason
 * and a non-zero exit.
 *
 * Gossip: one monitor alone cannot see a split view (the server showing it one
 * history and others another). Monitors run by different parties (the bank, its
 * auditor, a customer-advocacy group) exchange their state files — any channel
 * will do; the checkpoints in them are signed by the log, so the channel need not
 * be trusted — and pass each other's with `--peer FILE`. For every log both have
 * seen, the peer's checkpoint must carry the log's signature and be consistent with
 * this monitor's: the same root at the same size, else an RFC 9162 consistency
 * proof (§2.1.4) from the smaller tree to the larger one. A server that signed two
 * histories cannot produce that proof: `fork`.
 *
 * Key rotation (docs/log-key-rotation.md): each log follows an announced rotation as
 * `parley log verify` does (`key rotated (announced by …)`); a key change without an
 * announcement by the trusted key fails the round with `unannounced_key_change` (an
 * `ALERT:` line, exit 1). A peer a rotation ahead or behind is compared under the key it
 * saw, if this monitor trusts it (followed from, or announced by, its trusted key).
 */
import { readFile } from 'node:fs/promises';
import { fromBase64, isParleyError, toBase64 } from '@parley/core';
import { followKeyRotations, openNote, parseCheckpoint, parseVerifierKey, verifyConsistency, type Checkpoint } from '@parley/core/tlog';
import { parseFlags, parseServerUrl } from '../args.js';
import { UsageError, type ExitCode } from '../errors.js';
import { defaultStateFile, stateEntries, stateUrl, verifyLog, type LogState, type VerifyFailureReason, type VerifyResult } from './log.js';
import type { AuditIo } from './audit-verify.js';
import { fetchKeyRotations } from './log-key-follow.js';

/**
 * Usage lines of `parley audit monitor`.
 *
 * @example
 * io.out(AUDIT_MONITOR_USAGE);
 */
export const AUDIT_MONITOR_USAGE = `  parley audit monitor --url URL [--state FILE] [--log-key KEYS_VKEY --log-key AUDIT_VKEY] [--peer FILE]… [--interval SECONDS] [--json]
                       (both logs' keys, or neither: trust on first use, reported as not verified)`;

/** Why a peer comparison failed. */
export type PeerFailureReason = 'fork' | 'bad_peer_state' | 'bad_signature' | 'unreachable';

/**
 * One peer's checkpoint compared with ours, for one log.
 *
 * @example
 * if (!c.ok) console.error(c.peer, c.log, c.reason);
 */
export interface PeerComparison {
  readonly peer: string;
  readonly log: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly reason?: PeerFailureReason;
}

/**
 * One round of `parley audit monitor`: both logs verified, every peer compared.
 *
 * @example
 * const round: MonitorRound = await monitorRound({ url, stateFile, peers: [] });
 */
export interface MonitorRound {
  readonly ok: boolean;
  readonly at: string;
  readonly logs: readonly VerifyResult[];
  readonly peers: readonly PeerComparison[];
}

const LOGS = ['keys', 'audit'] as const;

/**
 * One round: verifies both logs (recording their checkpoints in the state file when
 * they pass), then compares with every peer's state.
 */
export async function monitorRound(options: {
  url: string;
  stateFile: string;
  keys: readonly string[];
  peers: readonly string[];
  onLine?: (line: string) => void;
}): Promise<MonitorRound> {
  const say = options.onLine ?? (() => {});
  const results: VerifyResult[] = [];
  for (const log of LOGS) {
    // Each log gets the given key named for its origin (a key for neither log: wrong_origin).
    const result = await verifyLog({ url: options.url, log, stateFile: options.stateFile, keys: options.keys });
    results.push(result);
    if (result.ok) {
      const consistency = result.checks.find((c) => c.name === 'consistency');
      const what = `${log} (${result.origin}): size ${result.treeSize}${consistency ? `, ${consistency.detail}` : ', first verification'}`;
      // Checked against a key the server gave: consistent, but not verified.
      if (result.pinned) say(`✔ ${what}`);
      else say(`! ${what}; verifier key NOT verified (taken from the server on first use): pass --log-key for both logs`);
      for (const c of result.checks.filter((c) => c.warning === true && /another key|new log/.test(c.detail))) say(`  ! ${log}: ${c.detail}`);
      for (const c of result.checks.filter((c) => c.warning !== true && /^key rotat/.test(c.detail))) say(`  ✔ ${log}: ${c.detail}`);
    } else {
      say(`✘ ${log}: ${result.failure!.reason.toUpperCase()} — ${result.failure!.message}`);
    }
  }
  const peers: PeerComparison[] = [];
  for (const peer of options.peers) {
    for (const result of results.filter((r) => r.ok)) {
      const comparison = await compareWithPeer(options.url, peer, result, options.stateFile);
      if (comparison) {
        peers.push(comparison);
        say(`${comparison.ok ? '✔' : '✘'} ${comparison.log} vs peer ${peer}: ${comparison.ok ? '' : `${comparison.reason!.toUpperCase()} — `}${comparison.detail}`);
      }
    }
  }
  return { ok: results.every((r) => r.ok) && peers.every((p) => p.ok), at: new Date().toISOString(), logs: results, peers };
}

function keyName(key: string): string {
  try {
    return parseVerifierKey(key).name;
  } catch {
    throw new UsageError('a --log-key is not a signed-note verifier key (<name>+<hex id>+<base64 key>)');
  }
}

/** A state file's entries by verifier key (undefined: not a state file). */
async function readStateLogs(path: string): Promise<Record<string, LogState> | undefined> {
  try {
    return stateEntries(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return undefined;
  }
}

/** Compares this monitor's verified checkpoint of one log with a peer's; undefined when the peer has not seen that log. */
async function compareWithPeer(url: string, peerFile: string, mine: VerifyResult, stateFile: string): Promise<PeerComparison | undefined> {
  const log = mine.log;
  const fail = (reason: PeerFailureReason, detail: string): PeerComparison => ({ peer: peerFile, log, ok: false, reason, detail });
  const peerLogs = await readStateLogs(peerFile);
  if (!peerLogs) return fail('bad_peer_state', 'not a monitor state file');
  const myLogs = await readStateLogs(stateFile);
  const myState = myLogs?.[mine.verifierKey!];
  if (!myLogs || !myState) return fail('bad_peer_state', 'this monitor has no verified state to compare');
  // The log's keys this monitor trusts: the current one, those it followed a rotation from,
  // and those the trusted key announced since (the peer may be a rotation ahead or behind).
  const logKeys = new Set<string>();
  for (let k: string | undefined = myState.verifierKey; k !== undefined && !logKeys.has(k); k = myLogs[k]?.rotatedFrom) logKeys.add(k);
  const base = url.replace(/\/+$/, '');
  const peerKeys = Object.values(peerLogs).filter((s) => s.origin === mine.origin).map((s) => s.verifierKey);
  if (peerKeys.some((k) => !logKeys.has(k))) {
    const notes = await fetchKeyRotations(`${base}/logs/${encodeURIComponent(log)}`).catch(() => []);
    for (const k of followKeyRotations(notes, { origin: mine.origin!, trusted: [myState.verifierKey] }).keys) logKeys.add(k);
  }
  const theirs = peerLogs[mine.verifierKey!] ?? [...logKeys].map((k) => peerLogs[k]).find((s) => s !== undefined);
  if (!theirs) {
    // The peer watched this log's origin at this URL under another key: the server showed it another log.
    const here = stateUrl(url);
    const other = Object.values(peerLogs).find((s) => s.origin === mine.origin && s.urls?.includes(here));
    return other ? fail('fork', `the peer was shown another verifier key for ${mine.origin} at ${here} (${other.verifierKey}), not announced by the key this monitor trusts`) : undefined;
  }
  // The peer's checkpoint must carry the log's signature (a key this monitor trusts for the log).
  let peerCheckpoint: Checkpoint;
  try {
    peerCheckpoint = parseCheckpoint(openNote(theirs.checkpoint, [parseVerifierKey(theirs.verifierKey)]).text);
  } catch (error) {
    const code = isParleyError(error) ? error.code : '';
    return fail('bad_signature', `the peer's checkpoint is not signed by this log's key (${code || 'malformed'})`);
  }
  if (peerCheckpoint.origin !== mine.origin) return fail('bad_peer_state', `the peer's checkpoint is for ${peerCheckpoint.origin}`);
  const mySize = mine.treeSize!;
  const myRoot = fromBase64(mine.rootHash!);
  const peerSize = peerCheckpoint.treeSize;
  if (peerSize === mySize) {
    return toBase64(peerCheckpoint.rootHash) === mine.rootHash
      ? { peer: peerFile, log, ok: true, detail: `same signed tree of size ${mySize}` }
      : fail('fork', `two different signed trees of size ${mySize}: the server showed the peer another history`);
  }
  if (peerSize === 0 || mySize === 0) return { peer: peerFile, log, ok: true, detail: 'nothing to compare (an empty tree)' };
  const [from, to, fromRoot, toRoot] = peerSize < mySize ? [peerSize, mySize, peerCheckpoint.rootHash, myRoot] : [mySize, peerSize, myRoot, peerCheckpoint.rootHash];
  let proof: Uint8Array[];
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/v1/logs/${encodeURIComponent(log)}/consistency?from=${from}&to=${to}`, { signal: AbortSignal.timeout(30_000) });
    const body = (await res.json()) as { proof?: unknown };
    if (res.status !== 200 || !Array.isArray(body.proof)) {
      return fail('fork', `the peer holds a signed tree of size ${peerSize}; the server cannot prove it consistent with size ${mySize} (answered ${res.status})`);
    }
    proof = body.proof.map((p: unknown) => fromBase64(String(p)));
  } catch (error) {
    return fail('unreachable', `cannot fetch a consistency proof: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!verifyConsistency(from, to, proof, fromRoot, toRoot)) {
    return fail('fork', `the peer's signed tree of size ${peerSize} and this monitor's of size ${mySize} are not one history`);
  }
  return { peer: peerFile, log, ok: true, detail: `consistent: size ${from} ⊑ size ${to}` };
}

/**
 * `parley audit monitor …`: follows both logs (and compares peers) every interval; exits 1 on an alert.
 *
 * @example
 * process.exitCode = await runAuditMonitor(['--url', url, '--interval', '60'], io);
 */
export async function runAuditMonitor(argv: readonly string[], io: AuditIo): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    url: { type: 'string' },
    state: { type: 'string' },
    'log-key': { type: 'string', multiple: true },
    peer: { type: 'string', multiple: true },
    interval: { type: 'string' },
    rounds: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const given = flags.url ?? process.env['PARLEY_URL'];
  if (!given) throw new UsageError(`--url is required\n${AUDIT_MONITOR_USAGE}`);
  const url = parseServerUrl(given, flags.url === undefined ? 'PARLEY_URL' : '--url');
  const intervalSeconds = flags.interval === undefined ? undefined : Number(flags.interval);
  if (intervalSeconds !== undefined && !(Number.isFinite(intervalSeconds) && intervalSeconds > 0)) throw new UsageError('--interval needs a positive number of seconds');
  const rounds = flags.rounds === undefined ? (intervalSeconds === undefined ? 1 : Infinity) : Number(flags.rounds);
  if (!(rounds === Infinity || (Number.isInteger(rounds) && rounds > 0))) throw new UsageError('--rounds needs a positive integer');
  const keys = flags['log-key'] ?? [];
  for (const k of keys) keyName(k);
  // One pinned log and one on trust would read as a verified pair: both keys or neither.
  if (keys.length !== 0 && keys.length !== 2) throw new UsageError(`pass --log-key twice (the keys log's and the audit log's verifier keys), or not at all\n${AUDIT_MONITOR_USAGE}`);
  const json = flags.json === true;
  const stateFile = flags.state ?? defaultStateFile();
  for (let round = 1; ; round++) {
    const result = await monitorRound({
      url,
      stateFile,
      keys,
      peers: flags.peer ?? [],
      ...(json ? {} : { onLine: (line: string) => io.out(line) }),
    });
    const failures = [
      ...result.logs.filter((l) => !l.ok).map((l) => ({ code: l.failure!.reason as string, what: `${l.log}: ${l.failure!.reason}` })),
      ...result.peers.filter((p) => !p.ok).map((p) => ({ code: p.reason as string, what: `${p.log} vs ${p.peer}: ${p.reason}` })),
    ];
    const alert = `ALERT: the server's logs cannot be trusted (${failures.map((f) => f.what).join('; ')}). Keep ${stateFile} as evidence.`;
    // On failure, the first failure's reason is the error's code (the round's fields stay as they are).
    if (json) io.out(JSON.stringify(result.ok ? result : { ...result, error: { code: failures[0]?.code ?? 'monitor_failed', message: alert } }));
    if (!result.ok) {
      io.err(alert);
      return 1;
    }
    if (round >= rounds) return 0;
    const wait = intervalSeconds ?? 60;
    // Progress on stderr (stdout is one result per round): when the next round starts.
    io.err(`round ${round}: both logs verified; next round in ${wait} s (${new Date(Date.now() + wait * 1000).toISOString()})`);
    await new Promise((r) => setTimeout(r, wait * 1000));
  }
}

export type { VerifyFailureReason };

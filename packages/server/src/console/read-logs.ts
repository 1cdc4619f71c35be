/**
 * The console's transparency-log view (`GET /console/api/logs`): for the key log and the audit
 * log, the size, the latest signed checkpoint, the verifier keys and the tree size over time
 * (`tlog_checkpoints`, the largest size of each hour); and a monitor's check, run on every
 * call: the latest checkpoint verifies under the log's keys and matches the log's head, and the
 * previous stored checkpoint of a smaller tree is consistent with it (RFC 9162 consistency proof
 * from the log's stored hashes, verified with `@parley/core/tlog`). The page verifies proofs
 * itself in the browser; this is the server's own view of its logs.
 */
import type { LogView, MonitorStatus } from '@parley/core';
import { equalBytes, isParleyError } from '@parley/core';
import { openNote, parseCheckpoint, parseVerifierKey, verifyConsistency } from '@parley/core/tlog';
import type { Sql } from '../storage/database.js';
import type { TransparencyLog } from '../tlog/transparency-log.js';

export type { LogView, MonitorStatus } from '@parley/core';

/** History reaches back this many hours (a week). */
export const HISTORY_HOURS = 168;

/**
 * Both logs' views and the monitor's check.
 *
 * @example
 * const view = await logsView(ctx.db, [ctx.keyLog, ctx.auditLog]);
 * if (!view.monitor.ok) console.warn(view.monitor.problems);
 */
export async function logsView(sql: Sql, logs: readonly TransparencyLog[], now: Date = new Date()): Promise<{ logs: LogView[]; monitor: MonitorStatus }> {
  const views: LogView[] = [];
  const problems: string[] = [];
  for (const log of logs) {
    const latest = await log.latestCheckpoint();
    const { origin, verifierKeys } = log.describe();
    const history = await sql.query<{ hour: string; size: string }>(
      `SELECT floor(extract(epoch FROM created_at) / 3600)::bigint AS hour, max(tree_size) AS size FROM tlog_checkpoints
       WHERE log = $1 AND created_at >= $2 GROUP BY 1 ORDER BY 1`,
      [log.name, new Date(now.getTime() - HISTORY_HOURS * 3_600_000)],
    );
    views.push({
      name: log.name,
      origin,
      size: latest.size,
      checkpoint: latest.note,
      verifierKeys: [...verifierKeys],
      history: history.map((h) => ({ at: new Date(Number(h.hour) * 3_600_000).toISOString(), size: Number(h.size) })),
    });
    problems.push(...(await checkLog(sql, log)));
  }
  return { logs: views, monitor: { checkedAt: now.toISOString(), ok: problems.length === 0, problems } };
}

/** The note's text (before the blank line that starts its signatures), unverified. */
function unsignedText(note: string): string {
  const end = note.indexOf('\n\n');
  return end < 0 ? note : note.slice(0, end + 1);
}

/**
 * A monitor's check of one log: what is wrong with it, as sentences (none when all is well).
 *
 * @example
 * const problems = await checkLog(db, keyLog); // [] when consistent
 */
export async function checkLog(sql: Sql, log: TransparencyLog): Promise<string[]> {
  const problems: string[] = [];
  const { origin, verifierKeys } = log.describe();
  const verifiers = verifierKeys.map((k) => parseVerifierKey(k));
  const latest = await log.latestCheckpoint();
  let latestRoot: Uint8Array;
  try {
    const cp = parseCheckpoint(openNote(latest.note, verifiers).text);
    if (cp.origin !== origin) problems.push(`${log.name}: the latest checkpoint names origin ${cp.origin}, not ${origin}`);
    if (cp.treeSize !== latest.size) problems.push(`${log.name}: the latest checkpoint says size ${cp.treeSize}, the log's head ${latest.size}`);
    if (!equalBytes(cp.rootHash, latest.rootHash)) problems.push(`${log.name}: the latest checkpoint's root hash is not the log head's`);
    latestRoot = cp.rootHash;
  } catch (error) {
    problems.push(`${log.name}: the latest checkpoint does not verify under the log's keys (${isParleyError(error) ? error.code : 'error'})`);
    return problems;
  }
  // The previous checkpoint the log published of a smaller tree (index tlog_checkpoints_by_size).
  const [previous] = await sql.query<{ tree_size: string; note: string }>(
    'SELECT tree_size, note FROM tlog_checkpoints WHERE log = $1 AND tree_size < $2 ORDER BY tree_size DESC, id DESC LIMIT 1',
    [log.name, String(latest.size)],
  );
  if (!previous || Number(previous.tree_size) === 0) return problems;
  let before;
  try {
    before = parseCheckpoint(openNote(previous.note, verifiers).text);
  } catch (error) {
    // Signed by a key the log rotated away from (docs/log-key-rotation.md): its tree still counts.
    if (isParleyError(error) && error.code === 'tlog_note_unverified') before = parseCheckpoint(unsignedText(previous.note));
    else {
      problems.push(`${log.name}: the previous checkpoint (size ${previous.tree_size}) does not verify (${isParleyError(error) ? error.code : 'error'})`);
      return problems;
    }
  }
  try {
    const proof = await log.consistencyProof(before.treeSize, latest.size);
    if (!verifyConsistency(before.treeSize, latest.size, proof, before.rootHash, latestRoot)) {
      problems.push(`${log.name}: the checkpoint of size ${latest.size} is not consistent with the previous one of size ${before.treeSize}`);
    }
  } catch (error) {
    problems.push(`${log.name}: no consistency proof from size ${before.treeSize} to ${latest.size} (${isParleyError(error) ? error.code : 'error'})`);
  }
  return problems;
}

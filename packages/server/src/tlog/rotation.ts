/**
 * The log's side of a key rotation (docs/log-key-rotation.md), generic over `LogSigner`
 * (a key file or a key in an HSM): storing and listing the announcements (migration
 * 011_tlog_key_rotation.sql), announcing the next key, and deciding at open whether the
 * stored checkpoint's key is one the announcements chain to the configured key.
 */
import type { Logger } from 'pino';
import { ParleyError } from '@parley/core';
import { followKeyRotations, openNote, signKeyRotation } from '@parley/core/tlog';
import type { Sql } from '../storage/database.js';
import type { LogSigner } from './transparency-log.js';
import { nodeVerifier } from './node-signer.js';

/**
 * Stores an announcement unless one for the same (log, old key, new key) exists; returns
 * whether it stored this one.
 *
 * @example
 * await insertKeyRotation(db, { log: 'audit', oldKey, newKey, startSize: 12, note });
 */
export async function insertKeyRotation(sql: Sql, r: { log: string; oldKey: string; newKey: string; startSize: number; note: string }): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO tlog_key_rotations (log, old_key, new_key, start_size, note) VALUES ($1, $2, $3, $4::bigint, $5)
     ON CONFLICT (log, old_key, new_key) DO NOTHING RETURNING id`,
    [r.log, r.oldKey, r.newKey, String(r.startSize), r.note],
  );
  return rows.length > 0;
}

/**
 * The log's announcements (signed notes), oldest first.
 *
 * @example
 * const notes = await listKeyRotations(db, 'audit');
 */
export async function listKeyRotations(sql: Sql, log: string): Promise<string[]> {
  const rows = await sql.query<{ note: string }>('SELECT note FROM tlog_key_rotations WHERE log = $1 ORDER BY id', [log]);
  return rows.map((r) => r.note);
}

/**
 * Announces `next` as the successor of `current` (signed by both, old first) with the
 * given start size, once per pair.
 *
 * @example
 * await announceKey(db, { log: 'audit', origin, current, next, startSize: row.treeSize });
 */
export async function announceKey(sql: Sql, a: { log: string; origin: string; current: LogSigner; next: LogSigner; startSize: number }): Promise<boolean> {
  const note = await signKeyRotation({ origin: a.origin, oldKey: a.current.verifierKey, newKey: a.next.verifierKey, startSize: a.startSize }, a.current, a.next);
  return insertKeyRotation(sql, { log: a.log, oldKey: a.current.verifierKey, newKey: a.next.verifierKey, startSize: a.startSize, note });
}

function signs(verifierKey: string, note: string): boolean {
  try {
    openNote(note, [nodeVerifier(verifierKey)]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Accepts the stored checkpoint at open: signed by the configured key; or by a key from
 * which the stored announcements chain to the configured key; or by a retired key of this
 * node (a rotation finished before any node signed with both keys), which is announced
 * now, signed by the retired and the configured key. Returns the verifier key that signed
 * the stored checkpoint. Anything else is `tlog_key_mismatch`: a log's key never changes
 * silently.
 *
 * @example
 * const storedKey = await acceptStoredKey(db, { log: 'audit', origin, signer, retired, checkpoint: row.checkpoint, treeSize: row.treeSize, logger });
 */
export async function acceptStoredKey(
  sql: Sql,
  p: { log: string; origin: string; signer: LogSigner; retired: readonly LogSigner[]; checkpoint: string; treeSize: number; logger: Logger },
): Promise<string> {
  if (signs(p.signer.verifierKey, p.checkpoint)) return p.signer.verifierKey;
  const notes = await listKeyRotations(sql, p.log);
  const candidates = new Set<string>(p.retired.map((r) => r.verifierKey));
  for (const note of notes) {
    const oldKey = /^old (.+)$/m.exec(note)?.[1];
    if (oldKey !== undefined) candidates.add(oldKey);
  }
  for (const key of candidates) {
    if (!signs(key, p.checkpoint)) continue;
    if (followKeyRotations(notes, { origin: p.origin, trusted: [key] }).keys.includes(p.signer.verifierKey)) {
      p.logger.info({ tlog: p.log, storedKey: key, verifierKey: p.signer.verifierKey }, 'the stored checkpoint is signed by an earlier key of this log; the announcements chain it to the current key');
      return key;
    }
  }
  const retired = p.retired.find((r) => signs(r.verifierKey, p.checkpoint));
  if (retired !== undefined) {
    await announceKey(sql, { log: p.log, origin: p.origin, current: retired, next: p.signer, startSize: p.treeSize });
    p.logger.warn({ tlog: p.log, oldVerifierKey: retired.verifierKey, verifierKey: p.signer.verifierKey }, 'announced a finished log-key rotation now (no node signed with both keys before)');
    return retired.verifierKey;
  }
  throw new ParleyError('tlog_key_mismatch', 'the stored checkpoint is not signed by the configured log key nor by an announced earlier key (wrong or lost key file?)', {
    status: 500,
    details: { log: p.log, verifierKey: p.signer.verifierKey },
  });
}

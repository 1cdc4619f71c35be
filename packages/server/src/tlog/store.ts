/**
 * SQL for the transparency-log tables (migration 002_tlog.sql), written once for both
 * engines. Every function takes the connection or transaction first. Indexes and sizes
 * are JS numbers (safe integers, checked on the way out of the database); ids of
 * pending rows stay decimal strings (bigserial).
 *
 * Batches travel as comma-joined base64 text decoded by the database, the shape the
 * relay measured fastest on both drivers (see repos/mailbox.ts).
 */
import { ParleyError } from '@parley/core';
import type { Sql } from '../storage/database.js';

export interface LogRow {
  readonly name: string;
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly checkpoint: string;
  readonly checkpointAt: Date;
}

/** A pending entry just moved into the tree by {@link sequencePending}. */
export interface SequencedRow {
  /** The pending id (bigserial, decimal). */
  readonly id: string;
  /** Its leaf index. */
  readonly index: number;
  /** RFC 6962 leaf hash, SHA-256(0x00 ‖ entry), computed by the database. */
  readonly leafHash: Uint8Array;
}

/** A view of driver bytes (pg gives Buffers) as a plain Uint8Array, without copying. */
export function plainBytes(value: Uint8Array): Uint8Array {
  return value.constructor === Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

export function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A bigint column as a safe integer; anything else means the table is corrupt. */
export function safeNumber(value: unknown, field: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new ParleyError('tlog_corrupt', 'transparency log storage holds an invalid number', { status: 500, details: { field } });
  return n;
}

/**
 * The error for a stored hash the tree needs but the table lacks: the log is corrupt.
 *
 * @example
 * if (hash === undefined) throw missingHash(storedHashIndex);
 */
export function missingHash(index: number | undefined): ParleyError {
  return new ParleyError('tlog_corrupt', 'a stored hash the tree needs is missing', { status: 500, details: { storedHashIndex: index } });
}

interface RawLogRow {
  name: string;
  origin: string;
  tree_size: string;
  root_hash: Uint8Array;
  checkpoint: string;
  checkpoint_at: Date;
}

function logRow(r: RawLogRow): LogRow {
  return {
    name: r.name,
    origin: r.origin,
    treeSize: safeNumber(r.tree_size, 'tree_size'),
    rootHash: plainBytes(r.root_hash),
    checkpoint: r.checkpoint,
    checkpointAt: r.checkpoint_at,
  };
}

/** Creates the log's row (empty tree) unless it exists; returns the row as stored. */
export async function createLogIfAbsent(sql: Sql, log: { name: string; origin: string; rootHash: Uint8Array; checkpoint: string }): Promise<LogRow> {
  await sql.query(
    `WITH created AS (
       INSERT INTO tlogs (name, origin, tree_size, root_hash, checkpoint) VALUES ($1, $2, 0, $3, $4)
       -- No arbiter: two nodes creating the same log at once may collide on either unique key
       -- (name or origin); with ON CONFLICT (name) the origin collision raised instead.
       ON CONFLICT DO NOTHING
       RETURNING name, checkpoint
     )
     INSERT INTO tlog_checkpoints (log, tree_size, note) SELECT name, 0, checkpoint FROM created`,
    [log.name, log.origin, log.rootHash, log.checkpoint],
  );
  // A separate statement: a row another node committed meanwhile is visible only to a new snapshot.
  const row = await getLog(sql, log.name);
  // Absent after the insert: another log already holds this origin (a misconfiguration).
  if (row === undefined) throw new ParleyError('tlog_corrupt', `no transparency log ${log.name}: its origin is used by another log`, { status: 500 });
  return row;
}

export async function getLog(sql: Sql, name: string): Promise<LogRow | undefined> {
  const rows = await sql.query<RawLogRow>('SELECT name, origin, tree_size, root_hash, checkpoint, checkpoint_at FROM tlogs WHERE name = $1', [name]);
  return rows[0] === undefined ? undefined : logRow(rows[0]);
}

/**
 * Locks the log's row for the rest of the transaction: every sequencer and heartbeat on
 * every node takes this lock first, so they run one at a time and each sees the state
 * the previous one committed. `FOR NO KEY UPDATE` leaves key-share locks (none today)
 * unblocked. `heartbeatDue` compares the last checkpoint time on the database clock.
 */
export async function lockLog(sql: Sql, name: string, heartbeatMs: number): Promise<{ treeSize: number; rootHash: Uint8Array; heartbeatDue: boolean }> {
  const rows = await sql.query<{ tree_size: string; root_hash: Uint8Array; due: boolean }>(
    `SELECT tree_size, root_hash, checkpoint_at <= clock_timestamp() - make_interval(secs => $2::float8) AS due
     FROM tlogs WHERE name = $1 FOR NO KEY UPDATE`,
    [name, String(heartbeatMs / 1000)],
  );
  const r = rows[0];
  if (r === undefined) throw new ParleyError('tlog_corrupt', 'transparency log row is missing', { status: 500 });
  return { treeSize: safeNumber(r.tree_size, 'tree_size'), rootHash: plainBytes(r.root_hash), heartbeatDue: r.due === true };
}

/** Inserts pending entries in one statement; returns their ids in input order. */
export async function insertPending(sql: Sql, log: string, items: readonly { entry: Uint8Array; label?: Uint8Array | undefined }[]): Promise<string[]> {
  if (items.length === 0) return [];
  if (items.length === 1) {
    const [item] = items;
    const rows = await sql.query<{ id: string }>('INSERT INTO tlog_pending (log, entry, label) VALUES ($1, $2, $3) RETURNING id', [log, item!.entry, item!.label ?? null]);
    return [rows[0]!.id];
  }
  const rows = await sql.query<{ id: string }>(
    `WITH input AS (
       -- Ids drawn here, once per row (a CTE with a volatile function is evaluated once),
       -- so the result can be returned in input order.
       SELECT e, l, ord, nextval('tlog_pending_id_seq') AS id
       FROM unnest(string_to_array($2, ','), string_to_array($3, ',')) WITH ORDINALITY AS t(e, l, ord)
     ), ins AS (
       INSERT INTO tlog_pending (id, log, entry, label)
       SELECT id, $1, decode(e, 'base64'), decode(NULLIF(l, ''), 'base64') FROM input
     )
     SELECT id FROM input ORDER BY ord`,
    // Entries are never empty, so no element of $2 is; an absent label is ''.
    [log, items.map((i) => toB64(i.entry)).join(','), items.map((i) => (i.label === undefined ? '' : toB64(i.label))).join(',')],
  );
  return rows.map((r) => r.id);
}

/**
 * Moves up to `limit` pending entries, oldest id first, into the tree at indexes
 * `treeSize`, `treeSize + 1`, … in ONE statement, and returns their leaf hashes: the
 * entries themselves never travel to the server and back. Runs under the log lock,
 * inside the batch transaction: a rollback puts them back.
 */
export async function sequencePending(sql: Sql, log: string, treeSize: number, limit: number): Promise<SequencedRow[]> {
  const rows = await sql.query<{ id: string; k: string; leaf: Uint8Array }>(
    `WITH taken AS (
       DELETE FROM tlog_pending WHERE id IN (SELECT id FROM tlog_pending WHERE log = $1 ORDER BY id LIMIT $2)
       RETURNING id, entry, label
     ), numbered AS (
       SELECT id, entry, label, row_number() OVER (ORDER BY id) - 1 AS k FROM taken
     ), moved AS (
       INSERT INTO tlog_entries (log, idx, entry, label, pending_id)
       SELECT $1, $3::bigint + k, entry, label, id FROM numbered
     )
     SELECT id, k, sha256(decode('00', 'hex') || entry) AS leaf FROM numbered ORDER BY k`,
    [log, String(limit), String(treeSize)],
  );
  return rows.map((r, i) => {
    if (Number(r.k) !== i) throw new ParleyError('tlog_corrupt', 'sequenced entries out of order', { status: 500 });
    return { id: r.id, index: treeSize + i, leafHash: plainBytes(r.leaf) };
  });
}

export async function hasPending(sql: Sql, log: string): Promise<boolean> {
  const rows = await sql.query('SELECT 1 FROM tlog_pending WHERE log = $1 LIMIT 1', [log]);
  return rows.length > 0;
}

/** Stored hashes by index, in request order; `undefined` where none is stored. */
export async function readHashes(sql: Sql, log: string, indexes: readonly number[]): Promise<(Uint8Array | undefined)[]> {
  if (indexes.length === 0) return [];
  // One index probe per key, whatever the statistics say: with `idx = ANY(…)` a freshly
  // loaded table without statistics (and PGlite has no autovacuum to gather them) got a
  // bitmap scan of the whole log, 20× slower for a tile.
  const rows = await sql.query<{ idx: string; hash: Uint8Array }>(
    `SELECT k.idx, h.hash FROM unnest(string_to_array($2, ',')::bigint[]) AS k(idx)
     CROSS JOIN LATERAL (SELECT hash FROM tlog_hashes WHERE log = $1 AND idx = k.idx) h`,
    [log, indexes.join(',')],
  );
  const byIndex = new Map(rows.map((r) => [Number(r.idx), plainBytes(r.hash)]));
  return indexes.map((i) => byIndex.get(i));
}

export interface BatchHead {
  readonly log: string;
  /** Stored-hash index of `hashes[0]` (the old tree's stored-hash count). */
  readonly firstHashIndex: number;
  readonly hashes: readonly Uint8Array[];
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly checkpoint: string;
}

/**
 * Finishes a batch in ONE statement: the new stored hashes, the checkpoint history row
 * and the log's new tree head.
 */
export async function storeBatchHead(sql: Sql, b: BatchHead): Promise<void> {
  await sql.query(
    `WITH hashes AS (
       INSERT INTO tlog_hashes (log, idx, hash)
       SELECT $1, $2::bigint + ord - 1, decode(h, 'base64')
       FROM unnest(string_to_array($3, ',')) WITH ORDINALITY AS t(h, ord)
     ), history AS (
       INSERT INTO tlog_checkpoints (log, tree_size, note) VALUES ($1, $4::bigint, $5)
     )
     UPDATE tlogs SET tree_size = $4::bigint, root_hash = $6, checkpoint = $5, checkpoint_at = clock_timestamp() WHERE name = $1`,
    [b.log, String(b.firstHashIndex), b.hashes.map(toB64).join(','), String(b.treeSize), b.checkpoint, b.rootHash],
  );
}

/** Records a re-signed checkpoint of the unchanged tree (heartbeat). */
export async function storeHeartbeat(sql: Sql, log: string, treeSize: number, checkpoint: string): Promise<void> {
  await sql.query(
    `WITH history AS (INSERT INTO tlog_checkpoints (log, tree_size, note) VALUES ($1, $2::bigint, $3))
     UPDATE tlogs SET checkpoint = $3, checkpoint_at = clock_timestamp() WHERE name = $1 AND tree_size = $2::bigint`,
    [log, String(treeSize), checkpoint],
  );
}

/** Leaf indexes of sequenced entries by pending id (absent: not sequenced yet). */
export async function indexesOfPending(sql: Sql, log: string, pendingIds: readonly string[]): Promise<Map<string, number>> {
  if (pendingIds.length === 0) return new Map();
  const rows = await sql.query<{ pending_id: string; idx: string }>(
    `SELECT e.pending_id, e.idx FROM unnest(string_to_array($2, ',')::bigint[]) AS k(id)
     CROSS JOIN LATERAL (SELECT pending_id, idx FROM tlog_entries WHERE pending_id = k.id AND log = $1) e`,
    [log, pendingIds.join(',')],
  );
  return new Map(rows.map((r) => [r.pending_id, safeNumber(r.idx, 'idx')]));
}

/** Entries [from, to), in index order (fewer when the tree is shorter). */
export async function readEntries(sql: Sql, log: string, from: number, to: number): Promise<Uint8Array[]> {
  const rows = await sql.query<{ entry: Uint8Array }>('SELECT entry FROM tlog_entries WHERE log = $1 AND idx >= $2::bigint AND idx < $3::bigint ORDER BY idx', [
    log,
    String(from),
    String(to),
  ]);
  return rows.map((r) => plainBytes(r.entry));
}

export async function entriesWithLabel(sql: Sql, log: string, label: Uint8Array, limit: number): Promise<{ index: number; entry: Uint8Array }[]> {
  const rows = await sql.query<{ idx: string; entry: Uint8Array }>(
    'SELECT idx, entry FROM tlog_entries WHERE log = $1 AND label = $2 ORDER BY idx LIMIT $3',
    [log, label, String(limit)],
  );
  return rows.map((r) => ({ index: safeNumber(r.idx, 'idx'), entry: plainBytes(r.entry) }));
}

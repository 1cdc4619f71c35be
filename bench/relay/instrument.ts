/**
 * Bench-side database instrumentation of the relay benchmark (no server change): a wrapper
 * around the server's database handle that times every statement and transaction and
 * records batch sizes, and `EXPLAIN ANALYZE` probes of the hot statements after the load.
 */
import { performance } from 'node:perf_hooks';
import type { Database, Sql } from '@parley/server';
import { summarize, type Percentiles } from '../lib/stats.js';

/** One statement's calls over the measured phase. */
export interface StatementStats {
  readonly statement: string;
  readonly count: number;
  /** Rows in the batch arrays (unnest statements) — percentiles; absent for scalar statements. */
  readonly batchRows?: Percentiles;
  readonly meanMs: number;
  readonly totalMs: number;
}

/** The server's database activity over the measured phase. */
export interface DbInstrumentation {
  readonly transactions: number;
  readonly transactionsPerSecond: number;
  readonly transactionMs: Percentiles;
  readonly statementsPerTransaction: number;
  readonly appendBatch: Percentiles;
  readonly ackBatchRequests: Percentiles;
  readonly statements: readonly StatementStats[];
  /** Statements outside transactions (mailbox paging when pushes are paused). */
  readonly nonTransactional: number;
  /** EXPLAIN ANALYZE of the hot statements on the tables as the load left them. */
  readonly planProbes: readonly PlanProbe[];
}

function statementName(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.startsWith('SELECT group_id, device_id FROM group_members')) return 'groupMembers';
  if (t.startsWith('INSERT INTO envelopes')) return 'insertEnvelopes';
  if (t.startsWith('INSERT INTO deliveries')) return 'insertDeliveries';
  if (t.startsWith('SELECT e.id, e.part, e.recipient_count')) return 'findSubmissions';
  if (t.startsWith('SELECT d.device_id, d.envelope_id, d.acked_at')) return 'classifyAcks';
  if (t.startsWith('SELECT id FROM envelopes WHERE id = ANY')) return 'classifyAcks.missing';
  if (t.startsWith('UPDATE deliveries d SET acked_at')) return 'acknowledge.deliveries';
  if (t.startsWith('UPDATE envelopes e SET payload = NULL WHERE e.id = ANY')) return 'acknowledge.clearPayload';
  if (t.startsWith('SELECT e.id, e.group_id, e.sender_device_id')) return 'pendingEnvelopes (paging)';
  if (t === 'BEGIN' || t === 'COMMIT') return t;
  return t.slice(0, 48);
}

/** What the wrapper recorded (collects only while `active`). */
export interface Recorder {
  active: boolean;
  transactions: number;
  transactionMs: number[];
  statementsInTx: number;
  appendBatch: number[];
  ackBatch: number[];
  nonTransactional: number;
  byStatement: Map<string, { count: number; totalMs: number; rows: number[] }>;
}

/**
 * Wraps `db` (in place) so that its statements and transactions are timed while the
 * returned recorder is `active`.
 *
 * @example
 * const recorder = instrumentDatabase(server.db);
 * recorder.active = true;
 */
export function instrumentDatabase(db: Database): Recorder {
  const rec: Recorder = {
    active: false,
    transactions: 0,
    transactionMs: [],
    statementsInTx: 0,
    appendBatch: [],
    ackBatch: [],
    nonTransactional: 0,
    byStatement: new Map(),
  };
  const record = (text: string, params: readonly unknown[] | undefined, ms: number) => {
    if (!rec.active) return;
    const name = statementName(text);
    let s = rec.byStatement.get(name);
    if (!s) rec.byStatement.set(name, (s = { count: 0, totalMs: 0, rows: [] }));
    s.count++;
    s.totalMs += ms;
    const first = params?.[0];
    if (Array.isArray(first)) s.rows.push(first.length);
  };
  const wrap = (sql: Sql, inTx: boolean): Sql => ({
    async query(text, params) {
      const t0 = performance.now();
      try {
        return await sql.query(text, params);
      } finally {
        record(text, params, performance.now() - t0);
        if (inTx && rec.active) rec.statementsInTx++;
        if (!inTx && rec.active) rec.nonTransactional++;
      }
    },
    transaction: (fn) => sql.transaction((tx) => fn(wrap(tx, true))),
  });
  const originalQuery = db.query.bind(db);
  const originalTransaction = db.transaction.bind(db);
  db.query = (text, params) => wrap({ query: originalQuery, transaction: originalTransaction }, false).query(text, params);
  db.transaction = async (fn) => {
    const t0 = performance.now();
    let first: string | undefined;
    let batch = 0;
    try {
      return await originalTransaction((tx) =>
        fn(
          wrap(
            {
              query: (text, params) => {
                if (first === undefined) {
                  first = statementName(text);
                  const p0 = params?.[0];
                  batch = Array.isArray(p0) ? p0.length : 0;
                }
                return tx.query(text, params);
              },
              transaction: (inner) => tx.transaction(inner),
            },
            true,
          ),
        ),
      );
    } finally {
      if (rec.active) {
        rec.transactions++;
        rec.transactionMs.push(performance.now() - t0);
        // groupMembers takes the distinct group ids; the batch is the envelope insert below.
        if (first === 'classifyAcks') rec.ackBatch.push(batch);
      }
    }
  };
  return rec;
}

/**
 * The recorded activity as figures (batch sizes as nearest-rank percentiles).
 *
 * @example
 * const db = summarizeRecorder(recorder, load.measuredSeconds, probes);
 */
export function summarizeRecorder(rec: Recorder, seconds: number, probes: readonly PlanProbe[]): DbInstrumentation {
  const statements = [...rec.byStatement.entries()]
    .map(([statement, s]) => ({
      statement,
      count: s.count,
      ...(s.rows.length > 0 ? { batchRows: summarize(s.rows) } : {}),
      meanMs: Math.round((s.totalMs / s.count) * 100) / 100,
      totalMs: Math.round(s.totalMs),
    }))
    .sort((a, b) => b.totalMs - a.totalMs);
  return {
    transactions: rec.transactions,
    transactionsPerSecond: Math.round(rec.transactions / seconds),
    transactionMs: summarize(rec.transactionMs),
    statementsPerTransaction: rec.transactions > 0 ? Math.round((rec.statementsInTx / rec.transactions) * 100) / 100 : 0,
    appendBatch: summarize(rec.byStatement.get('insertEnvelopes')?.rows ?? []),
    ackBatchRequests: summarize(rec.ackBatch),
    statements,
    nonTransactional: rec.nonTransactional,
    planProbes: probes,
  };
}

// --- plan probes: EXPLAIN ANALYZE of the relay's hot statements after the load ---------

/** One hot statement under `EXPLAIN ANALYZE`. */
export interface PlanProbe {
  readonly statement: string;
  readonly executionMs: number;
  readonly planningMs: number;
  /** Scan nodes with their actual row counts (index entries visited tell about bloat). */
  readonly scans: readonly string[];
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

function scansOf(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'].includes('Scan') || node['Node Type'].includes('Join')) {
    const on = node['Index Name'] ?? node['Relation Name'];
    out.push(`${node['Node Type']}${on ? ` on ${on}` : ''}: ${(node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)} rows`);
  }
  for (const c of node.Plans ?? []) scansOf(c, out);
  return out;
}

class Rollback extends Error {}

/**
 * Runs the relay's hot statements (copied from packages/server/src/repos/mailbox.ts;
 * keep in step) under EXPLAIN ANALYZE against the bench database as the load left
 * it, inside transactions that are rolled back.
 *
 * @example
 * const probes = await planProbes(server.db, receiver.deviceId);
 */
export async function planProbes(db: Database, receiverDeviceId: string): Promise<PlanProbe[]> {
  const recent = await db.query<{ device_id: string; envelope_id: string }>(
    'SELECT device_id, envelope_id FROM deliveries ORDER BY envelope_id DESC LIMIT 200',
  );
  const devices = recent.map((r) => r.device_id);
  const ids = recent.map((r) => r.envelope_id);
  const probes: [string, string, (string | readonly string[])[], string?][] = [
    [
      'pendingEnvelopes (mailbox page / poll)',
      `SELECT e.id, e.group_id, e.sender_device_id, s.identity_id AS sender_identity_id, e.kind, e.epoch, e.payload, e.created_at
       FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id JOIN devices s ON s.id = e.sender_device_id
       WHERE d.device_id = $1 AND d.acked_at IS NULL AND e.expires_at > now() AND e.payload IS NOT NULL
         AND NOT (d.envelope_id = ANY($3::bigint[]))
       ORDER BY d.envelope_id LIMIT $2`,
      [receiverDeviceId, '101', []],
    ],
    [
      'classifyAcks',
      `SELECT d.device_id, d.envelope_id, d.acked_at IS NOT NULL AS acked
       FROM deliveries d JOIN unnest($1::text[], $2::bigint[]) AS r(device_id, envelope_id)
         ON d.device_id = r.device_id AND d.envelope_id = r.envelope_id`,
      [devices, ids],
    ],
    [
      'acknowledge: UPDATE deliveries SET acked_at',
      `UPDATE deliveries d SET acked_at = now()
       FROM unnest($1::text[], $2::bigint[]) AS r(device_id, envelope_id)
       WHERE d.device_id = r.device_id AND d.envelope_id = r.envelope_id AND d.acked_at IS NULL
       RETURNING d.envelope_id`,
      [devices, ids],
      // Make the 200 rows pending again so the statement does its real work.
      'UPDATE deliveries SET acked_at = NULL WHERE envelope_id = ANY($1::bigint[])',
    ],
    [
      'acknowledge: UPDATE envelopes SET payload = NULL',
      `UPDATE envelopes e SET payload = NULL
       WHERE e.id = ANY($1::bigint[]) AND e.payload IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.envelope_id = e.id AND x.acked_at IS NULL)`,
      [ids],
      // Give the 200 envelopes a payload again so the anti-join runs.
      "UPDATE envelopes SET payload = '\\x00'::bytea WHERE id = ANY($1::bigint[])",
    ],
  ];
  const out: PlanProbe[] = [];
  for (const [statement, sql, params, prepare] of probes) {
    let plan: { Plan: PlanNode; 'Execution Time': number; 'Planning Time': number } | undefined;
    try {
      await db.transaction(async (tx) => {
        if (prepare) await tx.query(prepare, [ids]);
        const rows = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
        const raw = rows[0]?.['QUERY PLAN'];
        const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as (typeof plan)[];
        plan = parsed[0];
        throw new Rollback();
      });
    } catch (error) {
      if (!(error instanceof Rollback)) throw error;
    }
    if (plan) {
      out.push({
        statement,
        executionMs: Math.round(plan['Execution Time'] * 100) / 100,
        planningMs: Math.round(plan['Planning Time'] * 100) / 100,
        scans: scansOf(plan.Plan),
      });
    }
  }
  return out;
}

/**
 * Transparency-log engine benchmark (packages/server/src/tlog), on durable storage:
 * PGlite with a data directory and PostgreSQL in a fresh schema (dropped afterwards).
 *
 * 1. Append throughput, end to end: entries appended (each committed on its own, and in
 *    batches of 100 per transaction) while the background loop sequences them; the
 *    clock stops when the last one is in a signed checkpoint.
 * 2. Sequencing throughput: a backlog of pending entries sequenced batch after batch.
 * 3. Proofs at 10^3, 10^5 and 10^6 entries (10^6 skipped with --quick): the time to build
 *    the tree with batched sequencing, inclusion-proof generation from stored hashes,
 *    verification, proof size, and the time to read one full tile.
 *
 * Anchors: Tessera ~10k entries/s on local disk (POSIX driver), Trillian on MySQL
 * 400–500 entries/s. Target: ≥ 10k entries/s on PostgreSQL.
 *
 * Run alone: `npx tsx bench/tlog.ts [--quick] [--engine pglite|postgres|both]`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { generateSignerKey, leafHash, parseSignerKey, verifyInclusion } from '@parley/core/tlog';
import { PgliteDatabase, PostgresDatabase, migrate, type Database } from '@parley/server';
import { TransparencyLog } from '../packages/server/src/tlog/index.js';
import { DEFAULT_POSTGRES_URL, forEachEngine, type Engine, type EngineSkip } from './lib/engines.js';
import { runStandalone } from './lib/entry.js';
import { summarize, type Percentiles } from './lib/stats.js';

export { DEFAULT_POSTGRES_URL };
export type { Percentiles } from './lib/stats.js';

/** Sequenced entries/s of established transparency logs. */
export const TLOG_ANCHORS = [
  { name: 'Tessera (POSIX driver, local disk)', entriesPerSecond: 10_000 },
  { name: 'Trillian (MySQL)', entriesPerSecond: 450 },
] as const;
/** The goal: on PostgreSQL. */
export const TLOG_TARGET = { engine: 'postgres', entriesPerSecond: 10_000 } as const;

/** Options of {@link runTlogBench}. */
export interface TlogBenchOptions {
  quick?: boolean;
  engines?: readonly Engine[];
  databaseUrl?: string;
  /** Sequencing batch size (default 1000, the server default). */
  batchSize?: number;
  onProgress?: (line: string) => void;
}

/** Appends or sequencing over one phase. */
export interface ThroughputFigure {
  entries: number;
  seconds: number;
  entriesPerSecond: number;
  /** Checkpoints published while it ran (one per batch). */
  batches: number;
  /** Process CPU (main thread + PGlite worker) per second of wall time. */
  processCores: number;
}

/** Proof figures at one tree size. */
export interface ProofFigure {
  treeSize: number;
  /** Entries added to reach this size, and how long appending + sequencing them took. */
  built: number;
  buildSeconds: number;
  buildEntriesPerSecond: number;
  inclusionProofMs: Percentiles;
  verifyInclusionUs: Percentiles;
  proofHashes: { mean: number; max: number };
  proofBytes: { mean: number; max: number };
  consistencyProofMs: Percentiles;
  fullTileReadMs: Percentiles;
}

/** Everything one engine's run measured. */
export interface TlogEngineResult {
  engine: Engine;
  batchSize: number;
  entryBytes: number;
  appendSingle: ThroughputFigure & { writers: number };
  appendBatched: ThroughputFigure & { writers: number; entriesPerTransaction: number };
  sequencing: ThroughputFigure & { batchMs: Percentiles };
  proofs: ProofFigure[];
  target?: { met: boolean; ratio: number };
  anchors: { name: string; ratio: number }[];
  notes: string[];
}

/** Every engine's run, what was skipped, anchors and target. */
export interface TlogBenchResult {
  quick: boolean;
  results: TlogEngineResult[];
  skipped: EngineSkip[];
  anchors: typeof TLOG_ANCHORS;
  target: typeof TLOG_TARGET;
}

const ENTRY_BYTES = 256; // about a key-log entry (canonical JSON with two public keys and a signature)

/** Nearest-rank percentiles (lib/stats.ts), three decimals (verification times are µs). */
const percentiles = (values: readonly number[]): Percentiles => summarize(values, 3);

function entry(): Uint8Array {
  // JSON-ish printable bytes, as real entries are.
  return new TextEncoder().encode(randomBytes((ENTRY_BYTES * 3) / 4).toString('base64'));
}

async function checkpoints(db: Database, log: string): Promise<number> {
  const rows = await db.query<{ n: string }>('SELECT count(*) AS n FROM tlog_checkpoints WHERE log = $1', [log]);
  return Number(rows[0]!.n);
}

async function waitForSize(log: TransparencyLog, size: number): Promise<void> {
  for (;;) {
    if ((await log.latestCheckpoint()).size >= size) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Wall time, checkpoints and process CPU of `fn`. */
async function measure(db: Database, log: TransparencyLog, entries: number, fn: () => Promise<void>): Promise<ThroughputFigure> {
  const batches0 = await checkpoints(db, log.name);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    entries,
    seconds: Math.round(seconds * 1000) / 1000,
    entriesPerSecond: Math.round(entries / seconds),
    batches: (await checkpoints(db, log.name)) - batches0,
    processCores: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100) / 100,
  };
}

async function openLog(db: Database, name: string, batchSize: number): Promise<TransparencyLog> {
  const origin = `bench.parley.localhost/logs/${name}`;
  return TransparencyLog.open(db, { name, origin, signer: parseSignerKey(generateSignerKey(origin).signerKey), batchSize, log: pino({ level: 'warn' }) });
}

async function fill(db: Database, log: TransparencyLog, count: number, chunk = 5000): Promise<void> {
  for (let done = 0; done < count; done += chunk) {
    const n = Math.min(chunk, count - done);
    await db.transaction((tx) => log.appendMany(tx, Array.from({ length: n }, () => ({ entry: entry() }))));
  }
}

async function runEngine(engine: Engine, opts: TlogBenchOptions, progress: (line: string) => void): Promise<TlogEngineResult> {
  const quick = opts.quick === true;
  const batchSize = opts.batchSize ?? 1000;
  const notes: string[] = [];
  let db: Database;
  let cleanup: () => Promise<void>;
  if (engine === 'postgres') {
    const url = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
    const schema = `bench_tlog_${randomBytes(4).toString('hex')}`;
    const admin = new PostgresDatabase({ connectionString: url });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    db = new PostgresDatabase({ connectionString: url, schema, maxConnections: 40 });
    cleanup = async () => {
      await db.close();
      await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
      await admin.close();
    };
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'parley-bench-tlog-'));
    db = await PgliteDatabase.open({ dataDir: dir });
    cleanup = async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    };
  }
  try {
    await migrate(db);

    // 1a. Appends committed one at a time (appendNow: one autocommit statement each) by
    //     concurrent writers, sequenced by the loop.
    const singleN = quick ? 10_000 : 50_000;
    const writers = 32;
    const single = await openLog(db, 'single', batchSize);
    single.start();
    progress(`tlog/${engine}: ${singleN} appends, one per commit, ${writers} writers`);
    const appendSingle = await measure(db, single, singleN, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: writers }, async () => {
          while (next < singleN) {
            next++;
            await single.appendNow(entry());
          }
        }),
      );
      await waitForSize(single, singleN);
    });
    await single.stop();

    // 1b. Appends in batches of 100 per transaction (a directory committing several changes).
    const batchedN = quick ? 50_000 : 200_000;
    const perTx = 100;
    const batched = await openLog(db, 'batched', batchSize);
    batched.start();
    progress(`tlog/${engine}: ${batchedN} appends, ${perTx} per transaction, 8 writers`);
    const appendBatched = await measure(db, batched, batchedN, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < batchedN) {
            next += perTx;
            await db.transaction((tx) => batched.appendMany(tx, Array.from({ length: perTx }, () => ({ entry: entry() }))));
            batched.kick();
          }
        }),
      );
      await waitForSize(batched, batchedN);
    });
    await batched.stop();

    // 2. Sequencing a backlog.
    const backlogN = quick ? 50_000 : 200_000;
    const seq = await openLog(db, 'sequencing', batchSize);
    progress(`tlog/${engine}: sequencing a backlog of ${backlogN}`);
    await fill(db, seq, backlogN);
    const batchMs: number[] = [];
    const sequencing = await measure(db, seq, backlogN, async () => {
      for (;;) {
        const t0 = performance.now();
        const n = await seq.sequence();
        if (n === 0) break;
        batchMs.push(performance.now() - t0);
      }
    });

    // 3. Proofs at growing sizes (one log, grown with batched sequencing).
    const sizes = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];
    const big = await openLog(db, 'proofs', 10_000);
    const proofs: ProofFigure[] = [];
    let size = 0;
    for (const target of sizes) {
      const add = target - size;
      progress(`tlog/${engine}: building the tree to ${target.toLocaleString('en-US')} entries`);
      const t0 = performance.now();
      for (let done = 0; done < add; done += 10_000) {
        await fill(db, big, Math.min(10_000, add - done));
        while ((await big.sequence()) > 0);
      }
      const buildSeconds = (performance.now() - t0) / 1000;
      size = target;
      const cp = await big.latestCheckpoint();
      const samples = 200;
      const genMs: number[] = [];
      const verUs: number[] = [];
      const hashes: number[] = [];
      const consMs: number[] = [];
      const tileMs: number[] = [];
      for (let i = 0; i < samples; i++) {
        const index = Math.floor(Math.random() * cp.size);
        const t1 = performance.now();
        const proof = await big.inclusionProof(index, cp.size);
        genMs.push(performance.now() - t1);
        const [e] = await big.entries(index, index + 1);
        const t2 = performance.now();
        const ok = verifyInclusion(leafHash(e!), index, cp.size, proof, cp.rootHash);
        verUs.push((performance.now() - t2) * 1000);
        if (!ok) throw new Error(`inclusion proof of ${index} did not verify`);
        hashes.push(proof.length);
        const from = 1 + Math.floor(Math.random() * (cp.size - 1));
        const t3 = performance.now();
        await big.consistencyProof(from, cp.size);
        consMs.push(performance.now() - t3);
        if (cp.size >= 256) {
          const t4 = performance.now();
          await big.readTile(0, Math.floor(Math.random() * Math.floor(cp.size / 256)), 256);
          tileMs.push(performance.now() - t4);
        }
      }
      proofs.push({
        treeSize: cp.size,
        built: add,
        buildSeconds: Math.round(buildSeconds * 100) / 100,
        buildEntriesPerSecond: Math.round(add / buildSeconds),
        inclusionProofMs: percentiles(genMs),
        verifyInclusionUs: percentiles(verUs),
        proofHashes: { mean: Math.round((hashes.reduce((a, b) => a + b, 0) / samples) * 10) / 10, max: Math.max(...hashes) },
        proofBytes: { mean: Math.round((hashes.reduce((a, b) => a + b, 0) / samples) * 32), max: Math.max(...hashes) * 32 },
        consistencyProofMs: percentiles(consMs),
        fullTileReadMs: percentiles(tileMs),
      });
      progress(`tlog/${engine}: ${target.toLocaleString('en-US')} entries: inclusion proof p50 ${proofs[proofs.length - 1]!.inclusionProofMs.p50} ms`);
    }
    if (quick) notes.push('quick: 10^6-entry tree skipped');

    const best = Math.max(appendSingle.entriesPerSecond, appendBatched.entriesPerSecond);
    const result: TlogEngineResult = {
      engine,
      batchSize,
      entryBytes: ENTRY_BYTES,
      appendSingle: { ...appendSingle, writers },
      appendBatched: { ...appendBatched, writers: 8, entriesPerTransaction: perTx },
      sequencing: { ...sequencing, batchMs: percentiles(batchMs) },
      proofs,
      anchors: TLOG_ANCHORS.map((a) => ({ name: a.name, ratio: Math.round((best / a.entriesPerSecond) * 100) / 100 })),
      notes,
    };
    if (engine === TLOG_TARGET.engine) {
      result.target = { met: best >= TLOG_TARGET.entriesPerSecond, ratio: Math.round((best / TLOG_TARGET.entriesPerSecond) * 100) / 100 };
    }
    return result;
  } finally {
    await cleanup();
  }
}

/**
 * Runs the benchmark on each engine; a PostgreSQL that does not answer is skipped with a reason.
 *
 * @example
 * const result = await runTlogBench({ quick: true, onProgress: console.error });
 */
export async function runTlogBench(opts: TlogBenchOptions = {}): Promise<TlogBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  const { results, skipped } = await forEachEngine({ section: 'tlog', engines: opts.engines, databaseUrl: opts.databaseUrl, progress }, (engine) => runEngine(engine, opts, progress));
  return { quick: opts.quick === true, results, skipped, anchors: TLOG_ANCHORS, target: TLOG_TARGET };
}

// Run alone: npx tsx bench/tlog.ts [--quick] [--engine pglite|postgres|both]
runStandalone(import.meta.url, (a, progress) => runTlogBench({ quick: a.quick, engines: a.engines, onProgress: progress }));

/**
 * Worker thread that owns the embedded PGlite instance. PGlite runs queries on
 * the calling thread and blocks it; keeping it here keeps the HTTP/WebSocket
 * thread responsive. Protocol: see `pglite.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, types, type Transaction } from '@electric-sql/pglite';
import { restorePgliteTemplate } from './pglite-template.js';
import { withPgliteTieringBudget } from './wasm-tiering.js';

interface Request {
  id: number;
  op: 'query' | 'exec' | 'begin' | 'commit' | 'rollback' | 'close';
  tx?: number;
  sql?: string;
  params?: unknown[];
}

/** PostgreSQL's buffer cache inside the embedded engine (PostgreSQL's default: 128MB). */
const PGLITE_SHARED_BUFFERS = '16MB';

const port = parentPort;
if (!port) throw new Error('pglite-worker must run in a worker thread');

const { dataDir } = workerData as { dataDir: string | undefined };
// A new data directory gets the build's initialised and migrated database (pglite-template.ts)
// rather than initdb; unpacked here, off the main thread, which meanwhile loads the server.
if (dataDir !== undefined) await restorePgliteTemplate(dataDir);
// Only PostgreSQL's really hot paths are optimised by V8 (wasm-tiering.ts).
const db = await withPgliteTieringBudget(() => PGlite.create(dataDir ?? 'memory://', {
  // Same value mapping as the pg driver: int8 and numeric as strings.
  parsers: { [types.INT8]: (v: string) => v, [types.NUMERIC]: (v: string) => v },
  // PGlite's own parameters (fsync off, single user, …: durability unchanged), plus a smaller
  // buffer cache: PostgreSQL's default 128 MB is allocated and zeroed inside the WebAssembly
  // memory at start, which stays resident (issue 18: ~110 MB of an idle node). The data files
  // are read through the OS page cache, which caches them as well.
  startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`],
}));

interface OpenTx {
  tx: Transaction;
  finish: (commit: boolean) => void;
  done: Promise<void>;
}
const openTxs = new Map<number, OpenTx>();
class Rollback extends Error {}

function reply(id: number, result: unknown): void {
  port!.postMessage({ id, ok: true, result });
}

function fail(id: number, error: unknown): void {
  const e = error as { message?: unknown; code?: unknown; constraint?: unknown };
  port!.postMessage({
    id,
    ok: false,
    error: {
      message: typeof e?.message === 'string' ? e.message : String(error),
      code: typeof e?.code === 'string' ? e.code : undefined,
      constraint: typeof e?.constraint === 'string' ? e.constraint : undefined,
    },
  });
}

async function handle(req: Request): Promise<void> {
  switch (req.op) {
    case 'query': {
      const target = req.tx === undefined ? db : openTxs.get(req.tx)?.tx;
      if (!target) throw new Error('unknown transaction');
      const res = await target.query(req.sql ?? '', req.params ?? []);
      reply(req.id, res.rows);
      return;
    }
    case 'exec': {
      await db.exec(req.sql ?? '');
      reply(req.id, null);
      return;
    }
    case 'begin': {
      let started!: () => void;
      const ready = new Promise<void>((r) => (started = r));
      let entry!: OpenTx;
      const done = db
        .transaction(
          (tx) =>
            new Promise<void>((resolve, reject) => {
              entry.tx = tx;
              entry.finish = (commit) => (commit ? resolve() : reject(new Rollback()));
              started();
            }),
        )
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
        });
      entry = { tx: undefined as unknown as Transaction, finish: () => {}, done };
      openTxs.set(req.id, entry);
      await Promise.race([ready, done]);
      reply(req.id, req.id);
      return;
    }
    case 'commit':
    case 'rollback': {
      const entry = req.tx === undefined ? undefined : openTxs.get(req.tx);
      if (!entry) throw new Error('unknown transaction');
      openTxs.delete(req.tx!);
      entry.finish(req.op === 'commit');
      await entry.done;
      reply(req.id, null);
      return;
    }
    case 'close': {
      await db.close();
      reply(req.id, null);
      return;
    }
  }
}

port.on('message', (req: Request) => {
  handle(req).catch((error: unknown) => fail(req.id, error));
});
port.postMessage({ id: 0, ok: true, result: 'ready' });

/**
 * Embedded engine: PGlite (PostgreSQL in WebAssembly) in a worker thread, with a
 * data directory on disk. Commits reach the OS before they are acknowledged, so a
 * killed process loses nothing acknowledged; PGlite runs with fsync off, so power
 * loss can (see README).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DatabaseError, type Database, type Sql, type SqlValue } from './database.js';
import { observed, type PoolStats, type QueryObserver } from './query-observer.js';

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { message: string; code?: string; constraint?: string };
}

export interface PgliteOptions {
  /** Data directory; omitted = in memory (tests only). */
  dataDir?: string;
}

/**
 * The worker's JavaScript is a thin shell around PGlite's WebAssembly (whose memory is not
 * V8 heap): a small young generation keeps its idle footprint down (V8's default grows it
 * to tens of MB, which stay resident; issue 18).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 8 };

/** file: URL of tsx's ESM register API, resolved through its package exports. */
function tsxEsmApiUrl(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('tsx/package.json');
  const pkg = require(pkgPath) as { exports: Record<string, { import: { default: string } }> };
  return new URL(pkg.exports['./esm/api']!.import.default, pathToFileURL(pkgPath)).href;
}

export class PgliteDatabase implements Database {
  readonly engine = 'pglite' as const;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private closed = false;
  private failure: Error | undefined;
  private observer: QueryObserver | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new DatabaseError(msg.error?.message ?? 'database error', msg.error?.code, msg.error?.constraint));
    });
    const die = (error: Error) => {
      this.failure = error;
      for (const p of this.pending.values()) p.reject(new DatabaseError(`embedded database stopped: ${error.message}`));
      this.pending.clear();
    };
    worker.on('error', die);
    worker.on('exit', (code) => {
      if (!this.closed) die(new Error(`worker exited with code ${code}`));
    });
  }

  /** Starts the worker and waits until PGlite is ready. */
  static async open(options: PgliteOptions = {}): Promise<PgliteDatabase> {
    const isTs = import.meta.url.endsWith('.ts');
    const workerUrl = new URL(isTs ? './pglite-worker.ts' : './pglite-worker.js', import.meta.url);
    // Run from TypeScript sources (tsx, vitest), the worker needs tsx's loader too.
    const worker = isTs
      ? new Worker(
          `import(${JSON.stringify(tsxEsmApiUrl())})` +
            `.then((m) => { m.register(); return import(${JSON.stringify(workerUrl.href)}); })`,
          { eval: true, workerData: { dataDir: options.dataDir }, resourceLimits: WORKER_LIMITS },
        )
      : new Worker(workerUrl, { workerData: { dataDir: options.dataDir }, resourceLimits: WORKER_LIMITS });
    const db = new PgliteDatabase(worker);
    await new Promise<void>((resolve, reject) => {
      db.pending.set(0, { resolve: () => resolve(), reject });
      worker.once('error', reject);
    });
    return db;
  }

  private call(op: string, fields: Record<string, unknown> = {}): Promise<unknown> {
    if (this.failure) return Promise.reject(new DatabaseError(`embedded database stopped: ${this.failure.message}`));
    if (this.closed) return Promise.reject(new DatabaseError('database is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...fields });
    });
  }

  async query<R extends object>(text: string, params?: readonly SqlValue[]): Promise<R[]> {
    return (await observed(this.observer, text, () => this.call('query', { sql: text, params: params ?? [] }))) as R[];
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const tx = (await this.call('begin')) as number;
    const scoped: Sql = {
      query: async <R extends object>(text: string, params?: readonly SqlValue[]) =>
        (await observed(this.observer, text, () => this.call('query', { tx, sql: text, params: params ?? [] }))) as R[],
      transaction: (inner) => inner(scoped),
    };
    let result: T;
    try {
      result = await fn(scoped);
    } catch (error) {
      await this.call('rollback', { tx }).catch(() => {});
      throw error;
    }
    await this.call('commit', { tx });
    return result;
  }

  async exec(script: string): Promise<void> {
    await this.call('exec', { sql: script });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  /** One connection in a worker: the calls queued for it (or running). */
  poolStats(): PoolStats {
    return { waiting: this.pending.size };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.call('close');
    } finally {
      this.closed = true;
      await this.worker.terminate();
    }
  }
}

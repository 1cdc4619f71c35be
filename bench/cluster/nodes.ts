/**
 * Parley nodes for the cluster benchmark: separate `parley serve` processes on PostgreSQL
 * (and NATS), each with a bench-side memory hook preloaded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { sleep } from '../lib/async.js';
import { rssKiB } from '../lib/machine.js';
import type { MemorySample } from './types.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PARLEY_BIN = join(repoRoot, 'packages', 'cli', 'bin', 'parley.js');
/**
 * Preloaded into each node (bench-side; no server change): on SIGUSR2 a full GC, then
 * process.memoryUsage() into $PARLEY_BENCH_MEMORY_FILE, so memory samples hold no garbage.
 */
const MEMORY_HOOK = `data:text/javascript,${encodeURIComponent(
  'import { writeFileSync } from "node:fs"; let seq = 0; process.on("SIGUSR2", () => { if (typeof globalThis.gc === "function") globalThis.gc(); const f = process.env.PARLEY_BENCH_MEMORY_FILE; if (f) writeFileSync(f, JSON.stringify({ seq: ++seq, ...process.memoryUsage() })); });',
)}`;

/** A running `parley serve` process. */
export interface Node {
  readonly nodeId: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Where the memory hook writes. */
  readonly memoryFile: string;
  output(): string;
  stop(): Promise<void>;
}


/** Spawns `parley serve` on PostgreSQL + NATS (with the GC hook) and resolves once it listens. */
async function startNode(o: { databaseUrl: string; keyDir: string; natsUrl: string | undefined; natsPrefix: string; nodeId: string; memoryFile: string }): Promise<Node> {
  const args = [
    '--expose-gc',
    '--import',
    MEMORY_HOOK,
    PARLEY_BIN,
    'serve',
    '--database-url',
    o.databaseUrl,
    '--key-dir',
    o.keyDir,
    '--node-id',
    o.nodeId,
    '--port',
    '0',
    '--admin-token',
    ADMIN_TOKEN,
    '--log-level',
    'warn',
    // Every benchmark client connects from loopback: no per-address cap.
    '--max-connections-per-ip',
    '0',
    ...(o.natsUrl ? ['--nats-url', o.natsUrl, '--nats-prefix', o.natsPrefix] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARLEY_BENCH_MEMORY_FILE: o.memoryFile } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${o.nodeId} did not start within 60 s: ${out}`)), 60_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${o.nodeId} exited with ${code}: ${out}`));
    });
  });
  return { nodeId: o.nodeId, url, child, memoryFile: o.memoryFile, output: () => out, stop };
}

/** Waits until the node answers `GET /readyz` with 200 (throws after `timeoutMs`). */
async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = String(error);
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready: ${last}`);
}


/**
 * Full GC in every node (the SIGUSR2 hook), then each node's RSS and live memory.
 *
 * @example
 * const before = await nodeMemory(nodes);
 */
export async function nodeMemory(nodes: readonly Node[]): Promise<MemorySample[]> {
  const read = async (n: Node): Promise<{ seq: number; heapUsed: number; external: number } | undefined> => {
    try {
      return JSON.parse(await readFile(n.memoryFile, 'utf8')) as { seq: number; heapUsed: number; external: number };
    } catch {
      return undefined;
    }
  };
  const before = await Promise.all(nodes.map(read));
  for (const n of nodes) n.child.kill('SIGUSR2');
  return Promise.all(
    nodes.map(async (n, i) => {
      const deadline = Date.now() + 5000;
      let m = await read(n);
      while ((!m || m.seq <= (before[i]?.seq ?? 0)) && Date.now() < deadline) {
        await sleep(50);
        m = await read(n);
      }
      await sleep(200); // RSS settles after the GC's unmapping
      return { rssKiB: await rssKiB(n.child.pid!), liveKiB: m ? Math.round((m.heapUsed + m.external) / 1024) : undefined };
    }),
  );
}

/**
 * Starts nodes n{from+1}..n{to} of a schema in parallel and waits until each is ready.
 *
 * @example
 * const nodes = await startNodes(tmp, databaseUrl, keyDir, natsUrl, tag('pb'), 0, 3);
 */
export async function startNodes(tmp: string, databaseUrl: string, keyDir: string, natsUrl: string | undefined, natsPrefix: string, from: number, to: number): Promise<Node[]> {
  const started = await Promise.allSettled(
    Array.from({ length: to - from }, (_, i) => {
      const nodeId = `n${from + i + 1}`;
      return startNode({ databaseUrl, keyDir, natsUrl, natsPrefix, nodeId, memoryFile: join(tmp, `memory-${natsPrefix}-${nodeId}.json`) });
    }),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const bad = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw bad.reason;
  }
  await Promise.all(nodes.map((n) => waitReady(n.url)));
  return nodes;
}


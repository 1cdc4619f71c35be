/**
 * The gateway end to end: a bank service POSTs messages to `parley gateway` (1 instance,
 * then 2 on one PostgreSQL), which encrypts them for each customer's conversation with an
 * audit commitment, and customer devices (Node SDK, this process) receive and decrypt them.
 * Measured: accepted → decrypted messages/s, and the end-to-end latency of each message
 * (POST sent → the customer's `message` event), p50/p99 nearest rank.
 *
 * Processes: the Parley server and the customers run in this process; each gateway
 * instance is its own `parley gateway` process; the bank's requests come from this process.
 * Run alone: `npx tsx bench/gateway.ts [--quick]` (with NODE_OPTIONS=--conditions=parley-source).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Device, MemoryKeyStore } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { KeyFileWrapper, createApiKey, initGateway, openGatewayDatabase } from '@parley/gateway';
import { PostgresDatabase, startServer } from '@parley/server';
import { spawnListening } from '@parley/test-kit/process';
import { summarize, type Percentiles } from './lib/stats.js';

export interface GatewayRun {
  readonly instances: number;
  readonly messages: number;
  readonly customers: number;
  readonly messagesPerSecond: number;
  readonly e2eMs: Percentiles;
  readonly acceptMs: Percentiles;
  readonly failures: number;
}

export interface GatewayBenchResult {
  readonly engine: 'postgres';
  readonly audit: true;
  readonly runs: GatewayRun[];
  readonly notes: string[];
}

const ADMIN = 'bench-admin-token-0123456789';
const BIN = new URL('../packages/cli/bin/parley.js', import.meta.url).pathname;

/**
 * @example
 * const result = await runGatewayBench({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/test', quick: true, onProgress: console.log })
 */
export async function runGatewayBench(o: { databaseUrl: string; quick: boolean; onProgress: (line: string) => void; messages?: number }): Promise<GatewayBenchResult> {
  const runs: GatewayRun[] = [];
  for (const instances of [1, 2]) runs.push(await runOnce({ ...o, instances }));
  return {
    engine: 'postgres',
    audit: true,
    runs,
    notes: [
      'one Parley server (PostgreSQL) and the customer devices share this process; each gateway instance is a `parley gateway` process on the same PostgreSQL',
      'only the instance holding the sender lease encrypts and sends; a second instance adds API capacity and failover, not MLS throughput',
    ],
  };
}

async function runOnce(o: { databaseUrl: string; quick: boolean; onProgress: (line: string) => void; messages?: number; instances: number }): Promise<GatewayRun> {
  const customersN = o.quick ? 20 : 50;
  const total = o.messages ?? (o.quick ? 400 : 3000);
  const schema = `bench_gw_${Date.now().toString(36)}`;
  const serverSchema = `${schema}_s`;
  const admin = new PostgresDatabase({ connectionString: o.databaseUrl });
  await admin.exec(`CREATE SCHEMA ${schema}; CREATE SCHEMA ${serverSchema}`);
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-gw-'));
  const server = await startServer({ adminToken: ADMIN, database: { kind: 'postgres', url: o.databaseUrl, schema: serverSchema }, keys: { dir: join(dir, 'keys') }, log: { level: 'warn' } });
  const children: ChildProcess[] = [];
  const customers: Device[] = [];
  try {
    const db = await openGatewayDatabase({ databaseUrl: o.databaseUrl, schema });
    const keyFile = join(dir, 'gateway.key');
    await initGateway({ db, keyWrapper: await KeyFileWrapper.create(keyFile), serverUrl: server.url, businessId: 'bench-bank', adminToken: ADMIN });
    const { key } = await createApiKey(db, 'bench');
    await db.close();
    const urls: string[] = [];
    for (let i = 0; i < o.instances; i++) {
      const { child, url } = await spawnListening([BIN, 'gateway', '--database-url', o.databaseUrl, '--database-schema', schema, '--key-file', keyFile, '--port', '0', '--log-level', 'warn', '--instance-id', `bench-${i}`], { what: 'parley gateway' });
      children.push(child);
      urls.push(url);
      if (i === 0) await until(async () => ((await (await fetch(`${url}/healthz`)).json()) as { leading: boolean }).leading);
    }
    const post = (url: string, path: string, body: unknown) =>
      fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });

    o.onProgress(`gateway/${o.instances}: enrolling ${customersN} customers`);
    const received = new Map<string, number>();
    for (let i = 0; i < customersN; i++) {
      const res = (await (await post(urls[0]!, '/v1/enrollments', { customerId: `c-${i}` })).json()) as { token: string; serverUrl: string };
      const device = await Device.enroll({ serverUrl: res.serverUrl, enrollmentToken: res.token, store: new MemoryKeyStore(), keyPackageBatch: 2, ...nodeRuntime });
      device.subscribe((e) => {
        if (e.type === 'message' && !received.has(e.messageId)) received.set(e.messageId, performance.now());
      });
      await device.connect();
      customers.push(device);
    }
    // Warm-up: every conversation exists (first contact creates the MLS group).
    const warm = await Promise.all(customers.map(async (_d, i) => ((await (await post(urls[0]!, '/v1/messages', { to: `c-${i}`, class: 'alert', body: 'warm-up' })).json()) as { id: string }).id));
    await until(async () => warm.every((id) => received.has(id)), 120_000);

    o.onProgress(`gateway/${o.instances}: ${total} messages to ${customersN} customers through ${o.instances} instance(s)`);
    const sentAt = new Map<string, number>();
    const accept: number[] = [];
    let failures = 0;
    let next = 0;
    const body = 'x'.repeat(200);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async (_v, lane) => {
        for (let i = next++; i < total; i = next++) {
          const start = performance.now();
          const res = await post(urls[(i + lane) % urls.length]!, '/v1/messages', { to: `c-${i % customersN}`, class: 'alert', body: `${i} ${body}` });
          if (res.status !== 202) {
            failures++;
            continue;
          }
          accept.push(performance.now() - start);
          sentAt.set(((await res.json()) as { id: string }).id, start);
        }
      }),
    );
    await until(async () => [...sentAt.keys()].every((id) => received.has(id)), 600_000).catch(() => {});
    const e2e = [...sentAt].filter(([id]) => received.has(id)).map(([id, at]) => received.get(id)! - at);
    failures += sentAt.size - e2e.length;
    const last = Math.max(...[...sentAt.keys()].map((id) => received.get(id) ?? 0));
    const result: GatewayRun = {
      instances: o.instances,
      messages: sentAt.size,
      customers: customersN,
      messagesPerSecond: Math.round((e2e.length / ((last - t0) / 1000)) * 10) / 10,
      e2eMs: summarize(e2e),
      acceptMs: summarize(accept),
      failures,
    };
    o.onProgress(`gateway/${o.instances}: ${result.messagesPerSecond} msgs/s end to end, p50 ${result.e2eMs.p50} ms, p99 ${result.e2eMs.p99} ms`);
    return result;
  } finally {
    for (const d of customers) await d.close().catch(() => {});
    for (const c of children) c.kill('SIGTERM');
    await server.stop();
    await admin.exec(`DROP SCHEMA ${schema} CASCADE; DROP SCHEMA ${serverSchema} CASCADE`).catch(() => {});
    await admin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * No single point of failure: two `parley gateway` processes on one PostgreSQL, 1,000
 * messages to 100 customers from several clients, and `kill -9` of the instance that runs
 * the sender mid-burst. Every accepted message reaches its customer's app exactly once
 * (after the app's dedup by message id), every conversation stays usable (no forked
 * epoch: one more message to each customer decrypts, and no device saw an undecryptable
 * message), and every message's final status webhook arrives at least once.
 * PostgreSQL only: embedded PGlite belongs to one process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '@parley/client';
import { DATABASE_URL, ENGINE } from '@parley/test-kit/server';
import { EventLog } from '@parley/test-kit/sdk';
import { call, enrollCustomer, gatewayWorld, type GatewayWorld } from './fixtures.js';
import { spawnGateway, type GatewayProcess } from './gateway-process.js';

const postgres = ENGINE === 'postgres';
if (!postgres) console.log('ha.test.ts: skipped on embedded PGlite (two gateway processes need PostgreSQL; the CI PostgreSQL leg runs it)');

const CUSTOMERS = 100;
const MESSAGES = 1000;
const CLIENTS = 4;

describe.skipIf(!postgres)('gateway: two instances, kill -9 of the leader mid-burst', () => {
  let world: GatewayWorld;
  const processes: GatewayProcess[] = [];
  const customers: { id: string; device: Device; log: EventLog }[] = [];

  beforeAll(async () => {
    world = await gatewayWorld();
    const schema = world.schema!;
    const args = ['--database-url', DATABASE_URL, '--database-schema', schema, '--key-file', world.keyFile, '--port', '0', '--webhook-url', world.receiver.url, '--log-level', 'warn'];
    // Short webhook backoff and lease so the test runs in seconds, not minutes.
    const env = { PARLEY_GATEWAY_LEASE_TTL_MS: '3000', PARLEY_GATEWAY_WEBHOOK_SCHEDULE: '0.2,0.5,1,2,5' };
    processes.push(await spawnGateway([...args, '--instance-id', 'gw-a'], env));
    // A leads before B starts: the one to kill is known.
    await eventually(async () => (await health(processes[0]!.url)).leading);
    processes.push(await spawnGateway([...args, '--instance-id', 'gw-b'], env));
    for (let i = 0; i < CUSTOMERS; i++) {
      const id = `c-${1000 + i}`;
      const device = await enrollCustomer(processes[i % 2]!, world.apiKey, id);
      const log = new EventLog(device);
      await device.connect();
      customers.push({ id, device, log });
    }
  }, 600_000);

  afterAll(async () => {
    for (const c of customers) await c.device.close().catch(() => {});
    for (const p of processes) await p.kill('SIGKILL');
    await world?.close();
  });

  it('delivers every accepted message exactly once and reports each final status', async () => {
    const [a, b] = processes as [GatewayProcess, GatewayProcess];
    const accepted = new Map<string, { customer: string; body: string }>();
    let next = 0;
    let killed = false;
    const client = async (n: number) => {
      for (;;) {
        const i = next++;
        if (i >= MESSAGES) return;
        if (i === 300 && !killed) {
          killed = true;
          await a.kill('SIGKILL');
        }
        const customer = customers[i % CUSTOMERS]!.id;
        const body = `alert ${i} for ${customer}`;
        const request = { to: customer, class: 'alert', body, idempotencyKey: `burst-${i}` };
        // A client whose instance died retries the same request on the other one (same idempotency key).
        for (let attempt = 0; ; attempt++) {
          const target = attempt === 0 && (i + n) % 2 === 0 && a.child.exitCode === null && a.child.signalCode === null ? a : b;
          try {
            const res = await call(target, world.apiKey, 'POST', '/v1/messages', request);
            expect(res.status).toBe(202);
            accepted.set(res.body.id, { customer, body });
            break;
          } catch (error) {
            if (attempt > 5) throw error;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    expect(accepted.size).toBe(MESSAGES);
    expect(killed).toBe(true);

    // B takes the sender over and finishes what A had claimed.
    await eventually(async () => (await health(b.url)).leading, 30_000);
    const expectedBy = new Map<string, Set<string>>();
    for (const [id, m] of accepted) expectedBy.set(m.customer, (expectedBy.get(m.customer) ?? new Set()).add(id));
    await eventually(
      async () => customers.every((c) => new Set(c.log.messages().map((e) => e.messageId)).size >= expectedBy.get(c.id)!.size),
      240_000,
    );
    for (const c of customers) {
      const ids = c.log.messages().map((e) => e.messageId);
      // Exactly once after the app's dedup: every expected id once, nothing else.
      expect(new Set(ids), c.id).toEqual(expectedBy.get(c.id));
      expect(ids.length, `${c.id} shows a message twice`).toBe(new Set(ids).size);
      for (const e of c.log.messages()) expect(e.text).toBe(accepted.get(e.messageId)!.body);
      expect(c.log.events.filter((e) => e.type === 'undecryptable'), c.id).toEqual([]);
    }

    // Every conversation still works: one more message to every customer decrypts.
    const after = await Promise.all(customers.map((c) => call(b, world.apiKey, 'POST', '/v1/messages', { to: c.id, class: 'alert', body: `after ${c.id}` })));
    for (const res of after) expect(res.status).toBe(202);
    await eventually(async () => customers.every((c) => c.log.messages().some((e) => e.text === `after ${c.id}`)), 120_000);

    // Every message's final status webhook arrived at least once.
    await world.receiver.waitFor(() => [...accepted.keys()].every((id) => world.receiver.of(id).some((w) => w.type === 'message.delivered')), 180_000);
    expect(world.receiver.received.every((w) => w.verified)).toBe(true);
    const statuses = await world.db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM gateway_messages GROUP BY status`);
    expect(statuses.filter((s) => s.status === 'failed')).toEqual([]);
  }, 900_000);
});

async function health(url: string): Promise<{ leading: boolean }> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return (await res.json()) as { leading: boolean };
  } catch {
    return { leading: false };
  }
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

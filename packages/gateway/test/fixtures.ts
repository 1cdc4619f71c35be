/**
 * Test fixtures of the gateway: a Parley server, an initialized gateway database, running
 * gateway instances, a webhook receiver on loopback that verifies every signature, and
 * customers enrolled through the gateway's enrollment endpoint.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device, MemoryKeyStore, type DeviceSigners } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { KeyFileWrapper, createApiKey, initGateway, startGateway, type GatewayOptions, type RunningGateway } from '@parley/gateway';
import { verifyWebhook } from '@parley/gateway/webhooks';
import type { Database } from '@parley/server';
import { openGatewayTestDatabase } from '@parley/test-kit/gateway-db';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';

/** One received webhook: verified body, headers and whether the signature held. */
export interface ReceivedWebhook {
  readonly id: string;
  readonly type: string;
  readonly messageId: string;
  readonly data: Record<string, unknown>;
  readonly raw: string;
  readonly headers: Record<string, string>;
  readonly verified: boolean;
}

/** A webhook endpoint on loopback; `down` makes it answer 503 (or refuse when `refuse`). */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  down = false;
  #server: Server;
  #secrets: readonly string[] = [];
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.down) {
          res.writeHead(503).end();
          return;
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
        let verified = true;
        let body: { type: string; data: Record<string, unknown> };
        try {
          body = verifyWebhook(this.#secrets, headers, raw) as typeof body;
        } catch {
          verified = false;
          body = JSON.parse(raw) as typeof body;
        }
        this.received.push({ id: headers['webhook-id']!, type: body.type, messageId: String(body.data['messageId']), data: body.data, raw, headers, verified });
        res.writeHead(204).end();
      });
    });
  }

  async start(secrets: readonly string[]): Promise<void> {
    this.#secrets = secrets;
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address() as { port: number };
    this.url = `http://127.0.0.1:${address.port}/hooks`;
  }

  /** Events of one message, deduplicated by webhook id, in arrival order. */
  of(messageId: string): ReceivedWebhook[] {
    const seen = new Set<string>();
    return this.received.filter((w) => w.messageId === messageId && !seen.has(w.id) && seen.add(w.id));
  }

  async waitFor(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('timed out waiting for webhooks');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A Parley server, an initialized gateway database and what it takes to start instances. */
export interface GatewayWorld {
  readonly server: TestServer;
  readonly db: Database;
  readonly keyWrapper: KeyFileWrapper;
  /** The key file (for gateway processes). */
  readonly keyFile: string;
  /** PostgreSQL: the gateway database's schema. */
  readonly schema: string | undefined;
  readonly businessId: string;
  readonly webhookSecret: string;
  readonly apiKey: string;
  readonly receiver: WebhookReceiver;
  start(options?: Partial<GatewayOptions>): Promise<RunningGateway>;
  close(): Promise<void>;
}

/**
 * @example
 * const world = await gatewayWorld(); const gw = await world.start()
 */
export async function gatewayWorld(options: { server?: TestServer; businessId?: string; senderSigners?: DeviceSigners } = {}): Promise<GatewayWorld> {
  const server = options.server ?? (await startTestServer());
  const dir = await mkdtemp(join(tmpdir(), 'parley-gw-'));
  const { db, schema, close: closeDb } = await openGatewayTestDatabase();
  const keyWrapper = await KeyFileWrapper.create(join(dir, 'gateway.key'));
  const businessId = options.businessId ?? `bank-${Math.random().toString(36).slice(2, 8)}`;
  const { webhookSecret } = await initGateway({
    db,
    keyWrapper,
    serverUrl: server.url,
    businessId,
    businessName: 'Example Bank',
    adminToken: ADMIN_TOKEN,
    ...(options.senderSigners ? { senderSigners: options.senderSigners } : {}),
  });
  const { key: apiKey } = await createApiKey(db, 'test-service');
  const receiver = new WebhookReceiver();
  await receiver.start([webhookSecret]);
  const running: RunningGateway[] = [];
  return {
    server,
    db,
    keyWrapper,
    keyFile: join(dir, 'gateway.key'),
    schema,
    businessId,
    webhookSecret,
    apiKey,
    receiver,
    async start(extra = {}) {
      const gateway = await startGateway({ db, keyWrapper, webhookUrl: receiver.url, webhookSchedule: [0.2, 0.5, 1, 2], leaseTtlMs: 2000, ...extra });
      running.push(gateway);
      return gateway;
    },
    async close() {
      for (const g of running) await g.close().catch(() => {});
      await receiver.stop();
      await closeDb();
      if (!options.server) await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One call to the gateway's API with the world's API key (or `key`); `body` is `any`: tests read every response shape directly. */
export async function call(
  gateway: { url: string },
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(gateway.url + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Enrolls a customer device with a token from the gateway's `POST /v1/enrollments`. */
export async function enrollCustomer(gateway: { url: string }, apiKey: string, customerId: string, extra: { phone?: string } = {}): Promise<Device> {
  const res = await call(gateway, apiKey, 'POST', '/v1/enrollments', { customerId, name: customerId, ...extra });
  if (res.status !== 201) throw new Error(`enrollment ${res.status} ${JSON.stringify(res.body)}`);
  return Device.enroll({ serverUrl: res.body.serverUrl, enrollmentToken: res.body.token, store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
}

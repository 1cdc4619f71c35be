/**
 * The demo's gateway step: the bank's services send through `parley gateway` — one HTTP
 * call per message, signed status webhooks back — instead of embedding the SDK. The
 * gateway attaches to the already registered business (its own enrollment key and sender
 * identity, in its own database under its own key file), sends Alice a one-time code, and
 * a local webhook receiver verifies every status webhook with the helper banks use.
 */
import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Device } from '@parley/client';
import { KeyFileWrapper, createApiKey, initGateway, openGatewayDatabase, startGateway } from '@parley/gateway';
import { verifyWebhook } from '@parley/gateway/webhooks';
import type { Transcript } from './transcript.js';

/** What the gateway step needs from the scenario. */
export interface GatewayStepOptions {
  readonly transcript: Transcript;
  readonly serverUrl: string;
  readonly adminToken: string;
  readonly businessId: string;
  /** The gateway's own directory (its database and key file). */
  readonly dir: string;
  /** Alice's phone: it must receive the gateway's message. */
  readonly phone: Device;
  readonly customerId: string;
  readonly marker: string;
  readonly timeoutMs: number;
}

/**
 * @example
 * await runGatewayStep({ transcript, serverUrl, adminToken, businessId, dir, phone, customerId: 'c-1001', marker, timeoutMs })
 */
export async function runGatewayStep(o: GatewayStepOptions): Promise<void> {
  const { transcript } = o;
  const dir = o.dir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const db = await openGatewayDatabase({ dataDir: dir });
  const hooks: { type: string; messageId: string; verified: boolean }[] = [];
  let secret = '';
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
      try {
        const body = verifyWebhook(secret, headers, raw) as { type: string; data: { messageId: string } };
        hooks.push({ type: body.type, messageId: body.data.messageId, verified: true });
      } catch {
        hooks.push({ type: 'unverified', messageId: '', verified: false });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/parley-status`;
  let gateway: Awaited<ReturnType<typeof startGateway>> | undefined;
  try {
    const keyWrapper = await KeyFileWrapper.create(join(dir, 'gateway.key'));
    const init = await initGateway({ db, keyWrapper, serverUrl: o.serverUrl, businessId: o.businessId, businessName: 'Example Bank', adminToken: o.adminToken });
    secret = init.webhookSecret;
    transcript.step("the bank's gateway attaches to Example Bank: its own enrollment key and sender identity, sealed in its own database", init.attached, `kid ${init.kid}`);
    const { key } = await createApiKey(db, 'demo-payments-service');
    gateway = await startGateway({ db, keyWrapper, webhookUrl, logger: pino({ level: 'silent' }), webhookSchedule: [0.2, 0.5, 1, 2] });

    const code = String(100000 + Math.floor(Math.random() * 900000));
    const text = `Example Bank: your code is ${code}. It expires in 5 minutes.${o.marker}`;
    const received = new Promise<string>((resolve) => {
      const off = o.phone.subscribe((e) => {
        if (e.type === 'message' && e.text === text) {
          off();
          resolve(e.messageId);
        }
      });
    });
    // What a bank's service does: one HTTP call (the transcript shows it as curl).
    const res = await fetch(`${gateway.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ to: o.customerId, class: 'otp', body: text, idempotencyKey: `demo-otp-${code}` }),
    });
    const accepted = (await res.json()) as { id: string; status: string };
    transcript.step(
      'the payments service sends a one-time code with one call to the gateway (202 queued)',
      res.status === 202 && accepted.status === 'queued',
      `curl -X POST ${gateway.url}/v1/messages -H 'Authorization: Bearer pgw_…' -d '{"to":"${o.customerId}","class":"otp","body":"…"}'`,
    );
    const messageId = await Promise.race([received, new Promise<undefined>((r) => setTimeout(r, o.timeoutMs))]);
    transcript.step("Alice's phone decrypts it: the gateway encrypted it end to end for her devices", messageId === accepted.id);
    const want = ['message.queued', 'message.sent', 'message.delivered'];
    const deadline = Date.now() + o.timeoutMs;
    const types = () => hooks.filter((h) => h.messageId === accepted.id).map((h) => h.type);
    while (!want.every((t) => types().includes(t)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    transcript.step(
      'signed status webhooks (Standard Webhooks) reach the bank in order: queued → sent → delivered',
      hooks.every((h) => h.verified) && want.every((t, i) => types()[i] === t),
      types().join(' → '),
    );
    const view = (await (await fetch(`${gateway.url}/v1/messages/${accepted.id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { status: string; path: string | null };
    transcript.step('GET /v1/messages/:id shows the delivery path', view.path === 'app', `status ${view.status}, path ${view.path}`);
  } finally {
    await gateway?.close().catch(() => {});
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await db.close();
  }
}

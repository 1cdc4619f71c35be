/**
 * `POST /v1/routes/status`: the delivery status of many business messages in one call (the
 * gateway's status webhooks). Real server on loopback, real SDK devices: a business's
 * sender sees its messages delivered, with the customer device's signed receipts and the
 * audit-log index of each commitment; another business sees nothing of them (the same
 * answer as for ids that do not exist); a customer device is refused; the batch is bounded
 * and rate-limited per device; the operator sees every business.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, type Device, type Sender } from '@parley/client';
import { newMessageId, toBase64Url, type RouteStatus } from '@parley/core';
import { createBusiness, enroll, enrollSender, EventLog, type Business } from '@parley/test-kit/sdk';
import { ADMIN_TOKEN, api, startTestServer, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bankA: Business;
let bankB: Business;
let senderA: Sender;
let senderB: Sender;
let customerA: Device;
let customerB: Device;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestServer();
  bankA = await createBusiness(t.url, 'status-bank-a');
  bankB = await createBusiness(t.url, 'status-bank-b');
  senderA = await enrollSender(t.url, bankA);
  senderB = await enrollSender(t.url, bankB);
  customerA = await enroll(t.url, bankA, 'c-1', 'customer');
  customerB = await enroll(t.url, bankB, 'c-1', 'customer');
  closers.push(() => senderA.close(), () => senderB.close(), () => customerA.close(), () => customerB.close());
  await customerA.connect();
  await customerB.connect();
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
  await t?.stop();
});

/** Sends to a connected customer (`c-1` of the sender's business) and waits until the customer's device (its `log`) has it. */
async function deliver(sender: Sender, log: EventLog, text: string) {
  const sent = await sender.send('c-1', text, { class: 'alert' });
  await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
  return sent;
}

/** Polls until every message is delivered, with a `delivered` receipt and a sequenced commitment. */
async function settled(sender: Sender, ids: readonly string[]): Promise<RouteStatus[]> {
  let last: RouteStatus[] = [];
  await expect
    .poll(
      async () => {
        last = await sender.routes(ids);
        return last.length === ids.length && last.every((r) => r.state === 'delivered' && r.receipts.some((x) => x.status === 'delivered') && r.audit.index !== undefined);
      },
      { timeout: 15_000, interval: 100 },
    )
    .toBe(true);
  return last;
}

describe('POST /v1/routes/status', () => {
  let m1: string;
  let m2: string;
  let sentIndex: Map<string, number>;

  beforeAll(async () => {
    const log = new EventLog(customerA);
    const a = await deliver(senderA, log, 'Your card was charged $12');
    const b = await deliver(senderA, log, 'Your card was charged $30');
    m1 = a.messageId;
    m2 = b.messageId;
    sentIndex = new Map([
      [a.messageId, a.audit!.index],
      [b.messageId, b.audit!.index],
    ]);
  });

  it("the sending business sees its messages delivered, with the device's signed receipts and the commitment's audit-log index", async () => {
    const statuses = await settled(senderA, [m1, m2]);
    const receiptRows = await t.server.db.query<{ message_id: string; device_id: string; receipt_hash: Uint8Array }>(
      "SELECT message_id, device_id, receipt_hash FROM audit_receipts WHERE message_id = ANY($1::text[]) AND status = 'delivered'",
      [[m1, m2]],
    );
    for (const s of statuses) {
      expect(s).toMatchObject({ class: 'alert', state: 'delivered', path: 'app', audit: { logged: true, index: String(sentIndex.get(s.messageId)) } });
      expect(s.events.length).toBeGreaterThan(0);
      const delivered = s.receipts.find((r) => r.status === 'delivered')!;
      const row = receiptRows.find((r) => r.message_id === s.messageId)!;
      expect(delivered).toMatchObject({ deviceId: customerA.deviceId, receiptId: toBase64Url(new Uint8Array(row.receipt_hash)) });
      expect(row.device_id).toBe(customerA.deviceId);
      expect(Date.parse(delivered.at)).toBeGreaterThan(0);
      // updatedAt covers the receipt and every decision.
      expect(Date.parse(s.updatedAt!)).toBeGreaterThanOrEqual(Math.max(Date.parse(delivered.at), ...s.events.map((e) => Date.parse(e.at))));
    }
    // The single view and the batch share one mapping.
    const single = await senderA.route(m1);
    const batch = statuses.find((s) => s.messageId === m1)!;
    expect({ state: batch.state, path: batch.path, events: batch.events }).toEqual({ state: single.state, path: single.path, events: single.events });
  });

  it('answers in the order asked, once per id; unknown ids are absent', async () => {
    const statuses = await senderA.routes([m2, newMessageId(), m1, m2]);
    expect(statuses.map((s) => s.messageId)).toEqual([m2, m1]);
  });

  it("another business's sender gets nothing for them: the same answer as for ids that do not exist", async () => {
    expect(await senderB.routes([m1, m2])).toEqual([]);
    expect(await senderB.routes([newMessageId(), newMessageId()])).toEqual([]);
  });

  it('a customer device is refused (403 sender_required), even for its own messages', async () => {
    const refused = await customerA.api.routeStatuses([m1]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 403, code: 'sender_required' });
  });

  it('bounds the batch: 1 to 100 ids, each a message id (400)', async () => {
    const ids = (n: number) => Array.from({ length: n }, () => newMessageId());
    expect(await senderA.routes(ids(100))).toEqual([]);
    for (const bad of [ids(101), [], ['short'], [`${m1}!`]]) {
      const refused = await senderA.device.api.routeStatuses(bad).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 400, code: 'invalid_request' });
    }
    const extra = await api(t.url, 'POST', '/v1/routes/status', { messageIds: [m1], more: true }, ADMIN_TOKEN);
    expect(extra.status).toBe(400);
    const anonymous = await api(t.url, 'POST', '/v1/routes/status', { messageIds: [m1] });
    expect(anonymous.status).toBe(401);
  });

  it('the operator (admin token) sees every business', async () => {
    const logB = new EventLog(customerB);
    const other = await deliver(senderB, logB, 'Your statement is ready');
    const res = await api(t.url, 'POST', '/v1/routes/status', { messageIds: [m1, other.messageId, newMessageId()] }, ADMIN_TOKEN);
    expect(res.status).toBe(200);
    expect((res.body.routes as RouteStatus[]).map((r) => r.messageId)).toEqual([m1, other.messageId]);
    // And business B's sender sees its own, not A's.
    expect((await senderB.routes([m1, other.messageId])).map((r) => r.messageId)).toEqual([other.messageId]);
  });
});

describe('POST /v1/routes/status rate limit', () => {
  it('is limited per sending device (429 rate_limited with Retry-After)', async () => {
    const limited = await startTestServer({ limits: { routeStatusPerMinute: 2 } });
    try {
      const bank = await createBusiness(limited.url, 'status-limit-bank');
      const sender = await enrollSender(limited.url, bank);
      try {
        await sender.routes([newMessageId()]);
        await sender.routes([newMessageId()]);
        const refused = await sender.routes([newMessageId()]).catch((e: unknown) => e);
        expect(refused).toMatchObject({ status: 429, code: 'rate_limited' });
        expect(Number((refused as ApiError).details?.['retryAfterMs'])).toBeGreaterThan(0);
        // The operator is not limited.
        const admin = await api(limited.url, 'POST', '/v1/routes/status', { messageIds: [newMessageId()] }, ADMIN_TOKEN);
        expect(admin.status).toBe(200);
      } finally {
        await sender.close();
      }
    } finally {
      await limited.stop();
    }
  });
});

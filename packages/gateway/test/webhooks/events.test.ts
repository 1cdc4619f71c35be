/**
 * The gateway's event log: append (with its delivery rows), the catch-up feed, the shared
 * webhook body, and seq order = commit order under concurrent writers.
 */
import type { Database } from '@parley/server';
import { ENGINE } from '@parley/test-kit/server';
import { openGatewayTestDatabase } from '@parley/test-kit/gateway-db';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { appendEvent, listEvents, webhookBody, type GatewayEvent } from '../../src/webhooks/events.js';
import { isWebhookUrl } from '../../src/webhooks/webhook-url.js';

let db: Database;
let close: () => Promise<void>;

// One database per file (an embedded one takes seconds to start), emptied before each test.
beforeAll(async () => {
  ({ db, close } = await openGatewayTestDatabase());
});
afterAll(async () => {
  await close();
});
beforeEach(async () => {
  await db.query('TRUNCATE gateway_webhook_deliveries, gateway_events');
});

const URL_A = 'https://bank.example/parley/status?token=abc';
const URL_B = 'http://10.0.0.5:8080/hooks';

async function deliveryRows(): Promise<{ event_id: string; url: string; message_id: string; seq: string; attempts: number }[]> {
  return db.query('SELECT event_id, url, message_id, seq, attempts FROM gateway_webhook_deliveries ORDER BY seq, url');
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (error) {
    return error instanceof GatewayError ? error.code : error instanceof TypeError ? 'TypeError' : 'other';
  }
}

describe(`gateway event log (${ENGINE})`, () => {
  it('appends events with one delivery row per distinct target', async () => {
    const e1 = await appendEvent(db, { type: 'message.queued', messageId: 'msg_1', data: {} }, [URL_A, URL_A, URL_B]);
    const e2 = await appendEvent(db, { type: 'message.sent', messageId: 'msg_1', data: { path: 'push' } }, []);
    expect(e1.id).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
    expect(e1.id).not.toBe(e2.id);
    expect(BigInt(e2.seq)).toBeGreaterThan(BigInt(e1.seq));
    expect(new Date(e1.createdAt).toISOString()).toBe(e1.createdAt);
    const rows = await deliveryRows();
    expect(rows.map((r) => [r.event_id, r.url, r.message_id, String(r.seq), Number(r.attempts)])).toEqual([
      [e1.id, URL_B, 'msg_1', e1.seq, 0],
      [e1.id, URL_A, 'msg_1', e1.seq, 0],
    ].sort((a, b) => String(a[1]).localeCompare(String(b[1]))));
  });

  it('refuses non-http(s) targets and unknown types, storing nothing', async () => {
    for (const bad of ['file:///etc/passwd', 'ftp://bank.example/x', 'https://user:pw@bank.example/', 'not a url', '']) {
      expect(isWebhookUrl(bad)).toBe(false);
      expect(await codeOf(appendEvent(db, { type: 'message.sent', messageId: 'msg_1', data: {} }, [URL_A, bad]))).toBe('TypeError');
    }
    expect(await codeOf(appendEvent(db, { type: 'message.exploded' as 'message.sent', messageId: 'msg_1', data: {} }, [URL_A]))).toBe('TypeError');
    expect(isWebhookUrl(URL_A) && isWebhookUrl(URL_B)).toBe(true);
    expect((await listEvents(db, { after: '0', limit: 10 })).events).toEqual([]);
    expect(await deliveryRows()).toEqual([]);
  });

  it('builds the Standard Webhooks body; data cannot replace the messageId', async () => {
    const event = await appendEvent(db, { type: 'message.fallback', messageId: 'msg_9', data: { from: 'push', to: 'sms', messageId: 'msg_forged' } }, []);
    const body = webhookBody(event);
    expect(body).toEqual({ type: 'message.fallback', timestamp: event.createdAt, data: { messageId: 'msg_9', from: 'push', to: 'sms' } });
    expect(Object.keys(body.data)[0]).toBe('messageId');
    // The feed returns the same event, so the same JSON.
    const [listed] = (await listEvents(db, { after: '0', limit: 1 })).events;
    expect(JSON.stringify(webhookBody(listed!))).toBe(JSON.stringify(body));
  });

  it('pages the feed by seq, optionally for one message', async () => {
    const all: GatewayEvent[] = [];
    for (let i = 0; i < 7; i++) all.push(await appendEvent(db, { type: 'message.sent', messageId: `msg_${i % 2}`, data: { i } }, []));
    const seen: string[] = [];
    let after = '0';
    for (;;) {
      const page = await listEvents(db, { after, limit: 3 });
      expect(page.events.length).toBeLessThanOrEqual(3);
      if (page.events.length === 0) {
        expect(page.next).toBe(after);
        break;
      }
      seen.push(...page.events.map((e) => e.id));
      after = page.next;
    }
    expect(seen).toEqual(all.map((e) => e.id));
    const ones = await listEvents(db, { after: '0', limit: 500, messageId: 'msg_1' });
    expect(ones.events.map((e) => e.data['i'])).toEqual([1, 3, 5]);
    expect(ones.next).toBe(all[5]!.seq);
    expect((await listEvents(db, { after: all[6]!.seq, limit: 10 })).events).toEqual([]);
    expect((await listEvents(db, { after: '0', limit: 1 })).events[0]).toEqual(all[0]);
  });

  it('refuses a bad cursor or limit with invalid_request', async () => {
    for (const after of ['-1', 'abc', '1.5', '01', '', '99999999999999999999']) {
      expect(await codeOf(listEvents(db, { after, limit: 10 }))).toBe('invalid_request');
    }
    for (const limit of [0, 501, 1.5, Number.NaN]) {
      expect(await codeOf(listEvents(db, { after: '0', limit }))).toBe('invalid_request');
    }
    expect(await codeOf(listEvents(db, { after: '9223372036854775807', limit: 500 }))).toBe('no error');
  });

  it('orders seq by commit: a writer that began later cannot commit a smaller seq past a reader', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let firstInserted!: () => void;
    const inserted = new Promise<void>((r) => (firstInserted = r));
    const first = db.transaction(async (tx) => {
      const e = await appendEvent(tx, { type: 'message.sent', messageId: 'msg_slow', data: {} }, [URL_A]);
      firstInserted();
      await gate; // holds the append lock: its seq is drawn, not yet committed
      return e;
    });
    await inserted;
    let secondDone = false;
    const second = appendEvent(db, { type: 'message.sent', messageId: 'msg_fast', data: {} }, [URL_A]).then((e) => {
      secondDone = true;
      return e;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(secondDone).toBe(false); // waits for the lock
    if (ENGINE === 'postgres') {
      // A reader meanwhile sees neither (PGlite runs one transaction at a time, so it cannot look).
      expect((await listEvents(db, { after: '0', limit: 10 })).events).toEqual([]);
    }
    openGate();
    const [e1, e2] = await Promise.all([first, second]);
    expect(BigInt(e2.seq)).toBeGreaterThan(BigInt(e1.seq));
    expect((await listEvents(db, { after: '0', limit: 10 })).events.map((e) => e.id)).toEqual([e1.id, e2.id]);
  });
});

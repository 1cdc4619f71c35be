/**
 * Traces of the message path, exported over OTLP/HTTP (protobuf) to a real receiver on
 * loopback: a business sender submits a message, the customer's device receives and acks
 * it; the spans submit → store → route → route.step, deliver and ack are there with their
 * parent/child relations and links, and nothing in any span is content, a phone number or a
 * raw identifier. A raw submission with a W3C `traceparent` continues the caller's trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { randomBytes, toBase64, utf8 } from '@parley/core';
import { encryptApplication } from '@parley/core/mls';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '@parley/emulators';
import { createBusiness as createSdkBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { createBusiness, createRawGroup, registerRawDevice, startTestServer, suite, type TestServer } from '@parley/test-kit/server';
import { ATTRIBUTE_KEYS, RESOURCE_KEYS, SPAN_NAMES } from '../../src/observability/span-allow-list.js';

const MARKER = 'PLAINTEXT-TRACE-MARKER-7f3c';
const BUSINESS = 'trace-bank';
const CUSTOMER = 'trace-customer-1';
const PHONE = '+15550107788';

let otlp: OtlpReceiver;
let t: TestServer;
let bank: Business;
let sender: Sender;
let customer: Device;
let log: EventLog;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  t = await startTestServer({
    tracing: { otlpEndpoint: otlp.tracesUrl },
    routing: { tickMs: 50, businesses: { [BUSINESS]: { brand: 'Trace Bank', policies: { alert: { chain: [{ step: 'app', timeoutMs: 60_000 }], otherwise: 'block' } } } } },
  });
  bank = await createSdkBusiness(t.url, BUSINESS);
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Trace Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  await sender.connect();
  customer = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue(CUSTOMER, 'customer', { phone: PHONE }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  log = new EventLog(customer);
  await customer.connect();
}, 120_000);

afterAll(async () => {
  await customer?.close();
  await sender?.close();
  await t?.stop();
  await otlp?.close();
});

/** Flushes the server's exporter until `check` holds (spans of later requests may still be on their way). */
async function eventually<T>(check: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 100; i++) {
    await t.server.tracing.flush();
    const found = check();
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`spans: ${what} not received (${otlp.spans.map((s) => s.name).join(', ')})`);
}

const named = (name: string) => otlp.spans.filter((s) => s.name === name);
const byId = (spanId: string | undefined) => otlp.spans.find((s) => s.spanId === spanId);
/** Every string a span carries, as the collector would store it. */
const serialized = (s: ReceivedSpan) => JSON.stringify(s);

describe('traces of the message path', () => {
  it('exports submit → store → route → route.step, deliver and ack, linked by trace and pseudonym', async () => {
    const sent = await sender.send(CUSTOMER, `${MARKER} your statement is ready`, { class: 'alert' });
    await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    // The route finishes once the device acknowledged the message (the ack hook).
    for (let i = 0; i < 200 && (await sender.route(sent.messageId)).state === 'active'; i++) await new Promise((r) => setTimeout(r, 25));

    const route = await eventually(() => named('parley.route').find((s) => s.attributes['parley.message.class'] === 'alert'), 'parley.route');
    const pseudonym = route.attributes['parley.message.pseudonym'];
    expect(pseudonym).toMatch(/^[0-9a-f]{16}$/);
    expect(route.attributes['parley.route.chain']).toBe('app');
    // route ⊂ store ⊂ submit, one trace.
    const store = byId(route.parentSpanId)!;
    expect(store.name).toBe('parley.store');
    expect(store.attributes).toMatchObject({ 'parley.message.kind': 'application', 'parley.message.pseudonym': pseudonym, 'parley.outcome': 'stored' });
    const submit = byId(store.parentSpanId)!;
    expect(submit.name).toBe('parley.submit');
    expect(submit.parentSpanId).toBeUndefined();
    expect(submit.attributes).toMatchObject({ 'parley.message.pseudonym': pseudonym, 'parley.outcome': 'stored', 'parley.recipients': 1 });
    expect(submit.attributes['parley.device.pseudonym']).toMatch(/^[0-9a-f]{16}$/);
    expect(submit.attributes['parley.business.pseudonym']).toBe(route.attributes['parley.business.pseudonym']);
    expect(Number(submit.attributes['parley.bytes'])).toBeGreaterThan(0);
    expect(new Set([submit.traceId, store.traceId, route.traceId]).size).toBe(1);

    // The router's step: a child of the route span, its decision as an event and attributes.
    const step = await eventually(() => named('parley.route.step').find((s) => s.attributes['parley.message.pseudonym'] === pseudonym), 'parley.route.step');
    expect(step.traceId).toBe(submit.traceId);
    expect(step.parentSpanId).toBe(route.spanId);
    expect(step.attributes).toMatchObject({ 'parley.route.step': 'app', 'parley.route.step_index': 0, 'parley.channel': 'app', 'parley.decision': 'waiting', 'parley.outcome': 'waiting' });
    expect(step.attributes['parley.reason']).toMatch(/^[a-z0-9_-]+$/);
    expect(step.events.map((e) => [e.name, e.attributes['parley.decision']])).toEqual([['parley.route.decision', 'waiting']]);

    // Deliver and ack: later requests, linked to the span that stored the message, with the same message pseudonym.
    const deliver = await eventually(() => named('parley.deliver').find((s) => (s.attributes['parley.message.pseudonyms'] as string[]).includes(pseudonym as string)), 'parley.deliver');
    expect(deliver.links.some((l) => l.traceId === submit.traceId && l.spanId === store.spanId && l.attributes['parley.message.pseudonym'] === pseudonym)).toBe(true);
    expect(['push', 'page', 'fetch']).toContain(deliver.attributes['parley.path']);
    expect(deliver.attributes['parley.device.pseudonym']).not.toBe(submit.attributes['parley.device.pseudonym']);
    const ack = await eventually(() => named('parley.ack').find((s) => (s.attributes['parley.message.pseudonyms'] as string[]).includes(pseudonym as string)), 'parley.ack');
    expect(ack.links.some((l) => l.traceId === submit.traceId && l.spanId === store.spanId)).toBe(true);
    expect(ack.attributes['parley.device.pseudonym']).toBe(deliver.attributes['parley.device.pseudonym']);
    expect(ack.attributes['parley.acked']).toBeGreaterThanOrEqual(1);

    // Every name is a contract name, every key on the allow-list; the resource says nothing of the host.
    for (const s of otlp.spans) {
      expect(SPAN_NAMES as readonly string[]).toContain(s.name);
      for (const key of [...Object.keys(s.attributes), ...s.events.flatMap((e) => Object.keys(e.attributes)), ...s.links.flatMap((l) => Object.keys(l.attributes))]) expect(Object.keys(ATTRIBUTE_KEYS)).toContain(key);
      expect(Object.keys(s.resource).sort()).toEqual([...RESOURCE_KEYS]);
      expect(s.resource['service.name']).toBe('parley-server');
    }

    // Nothing of the content, no phone number, no raw identifier anywhere (names, attributes, events, links, resource, status).
    const raw = [MARKER, PHONE, PHONE.slice(1), BUSINESS, CUSTOMER, sent.messageId, sender.device.deviceId, customer.deviceId, sent.conversationId];
    for (const s of otlp.spans) for (const needle of raw) expect(serialized(s), `${s.name} carries ${needle}`).not.toContain(needle);
    // Envelope ids are small numbers: no attribute value is one.
    const envelopeIds = new Set([sent.envelopeId]);
    for (const s of otlp.spans) for (const v of Object.values(s.attributes).flat()) expect(envelopeIds.has(String(v)) && typeof v === 'string').toBe(false);
  });

  it('continues the trace of an incoming W3C traceparent', async () => {
    const business = await createBusiness(t.url);
    const alice = await registerRawDevice(t.url, business, 'agent', { kind: 'sender' });
    const bob = await registerRawDevice(t.url, business, 'bob');
    const { group } = await createRawGroup(t.url, alice, [bob]);
    const enc = await encryptApplication(await suite(), group, utf8(MARKER));
    const traceId = Buffer.from(randomBytes(16)).toString('hex');
    const parentId = Buffer.from(randomBytes(8)).toString('hex');
    const res = await fetch(`${t.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}`, traceparent: `00-${traceId}-${parentId}-01` },
      body: JSON.stringify({ idempotencyKey: 'traced-1', conversationId: group.conversationId, message: toBase64(enc.message) }),
    });
    expect(res.status).toBe(201);
    const submit = await eventually(() => named('parley.submit').find((s) => s.traceId === traceId), 'the traced submit');
    expect(submit.parentSpanId).toBe(parentId);
    expect(submit.attributes).toMatchObject({ 'parley.path': 'http', 'http.request.method': 'POST', 'http.route': '/v1/messages' });
    const store = await eventually(() => named('parley.store').find((s) => s.parentSpanId === submit.spanId), 'its store span');
    expect(store.traceId).toBe(traceId);
    for (const s of otlp.spans) for (const needle of [MARKER, alice.deviceId, bob.deviceId, business.id, group.conversationId]) expect(serialized(s)).not.toContain(needle);
  });
});

/**
 * Without an OTLP endpoint (and no span file) tracing is off: the server holds
 * `Tracing.off`, no OpenTelemetry SDK object exists, wrapped calls run directly, and a
 * full submit → deliver → ack exchange exports nothing to a receiver that listens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { randomBytes, toBase64, utf8 } from '@parley/core';
import { encryptApplication } from '@parley/core/mls';
import { startOtlpReceiver, type OtlpReceiver } from '@parley/emulators';
import { api, createBusiness, createRawGroup, registerRawDevice, startTestServer, suite, type TestServer } from '@parley/test-kit/server';
import { Tracing } from '../../src/observability/tracing.js';
import { otlpTracesEndpoint } from '../../src/observability/tracing-endpoint.js';

let otlp: OtlpReceiver;
let t: TestServer;
beforeAll(async () => {
  otlp = await startOtlpReceiver();
  // An explicit `fileExporterPath: undefined` keeps the span file off under PARLEY_TELEMETRY_DIR too.
  t = await startTestServer({ tracing: { fileExporterPath: undefined } });
});
afterAll(async () => {
  await t?.stop();
  await otlp?.close();
});

describe('tracing off', () => {
  it('is the no-op instance unless an exporter is configured', async () => {
    const off = Tracing.create({ otlpEndpoint: undefined, fileExporterPath: undefined, serviceName: 'parley-server' }, randomBytes(32), 'node-1');
    expect(off).toBe(Tracing.off);
    expect(off.enabled).toBe(false);
    let seen: unknown = 'not called';
    expect(await off.inSpan('parley.submit', { parent: off.incoming({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }) }, (span) => ((seen = span.spanContext), 7))).toBe(7);
    expect(seen).toBeUndefined();
    let filled = false;
    off.record('parley.deliver', {}, () => (filled = true));
    expect(filled).toBe(false);
    expect(off.pseudonym('device', 'd1')).toBe('');
    await expect(off.inSpan('parley.store', {}, () => Promise.reject(new Error('passes through')))).rejects.toThrow('passes through');
    expect(t.server.tracing).toBe(Tracing.off);
  });

  it('exports nothing for a submit, deliver and ack', async () => {
    const business = await createBusiness(t.url);
    const agent = await registerRawDevice(t.url, business, 'agent', { kind: 'sender' });
    const bob = await registerRawDevice(t.url, business, 'bob');
    const { group } = await createRawGroup(t.url, agent, [bob]);
    const socket = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${bob.token}` } });
    const delivered: string[] = [];
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; envelopes?: { id: string }[]; frames?: { type: string; envelopes?: { id: string }[] }[] };
      for (const f of frame.type === 'batch' ? frame.frames! : [frame]) if (f.type === 'deliver') delivered.push(...f.envelopes!.map((e) => e.id));
    });
    await new Promise((resolve) => socket.once('open', resolve));
    const enc = await encryptApplication(await suite(), group, utf8('off'));
    const sent = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'off-1', conversationId: group.conversationId, message: toBase64(enc.message) }, agent.token);
    expect(sent.status).toBe(201);
    for (let i = 0; i < 200 && !delivered.includes(sent.body.id); i++) await new Promise((r) => setTimeout(r, 10));
    expect(delivered).toContain(sent.body.id);
    expect((await api(t.url, 'POST', '/v1/mailbox/ack', { ids: delivered }, bob.token)).status).toBe(200);
    socket.close();
    await t.server.tracing.flush();
    expect(otlp.exports).toEqual([]);
    expect(otlp.recorder.size).toBe(0);
  });

  it('takes the endpoint from --otlp-endpoint, then OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    expect(otlpTracesEndpoint(undefined, {})).toBeUndefined();
    expect(otlpTracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' })).toBe('http://127.0.0.1:4318/v1/traces');
    expect(otlpTracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom' })).toBe('http://t:4318/custom');
    expect(otlpTracesEndpoint('http://flag:4318', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom' })).toBe('http://flag:4318/v1/traces');
    expect(otlpTracesEndpoint('https://flag:4318/otlp/v1/traces', {})).toBe('https://flag:4318/otlp/v1/traces');
    expect(() => otlpTracesEndpoint('ftp://x', {})).toThrow(/http or https/);
    expect(() => otlpTracesEndpoint('http://user:secret@x:4318', {})).toThrow(/credentials/);
    expect(() => otlpTracesEndpoint('not a url', {})).toThrow(/not a URL/);
  });
});

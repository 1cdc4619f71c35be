/**
 * The loopback OTLP receiver (@parley/emulators) answers as OTLP/HTTP says: the real
 * OpenTelemetry protobuf exporter's requests decode (plain and gzip), OTLP/JSON with hex ids
 * too; a malformed body is 400 with a google.rpc.Status, another content type 415.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { startOtlpReceiver, type OtlpReceiver } from '@parley/emulators';

let otlp: OtlpReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver();
});
afterAll(async () => otlp?.close());

async function exportOne(name: string, env: Record<string, string> = {}): Promise<{ traceId: string; spanId: string }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'receiver-test' }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: otlp.tracesUrl }))],
    });
    const tracer = provider.getTracer('receiver-test');
    const parent = tracer.startSpan('outer');
    const span = tracer.startSpan(name, { attributes: { 'parley.bytes': 42, 'parley.path': 'http', 'parley.duplicate': false } });
    span.addEvent('parley.route.decision', { 'parley.decision': 'sent' });
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'not_a_member' });
    span.end();
    parent.end();
    await provider.shutdown();
    return { traceId: span.spanContext().traceId, spanId: span.spanContext().spanId };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('OTLP receiver', () => {
  it('decodes the protobuf export of the OpenTelemetry exporter', async () => {
    const sent = await exportOne('proto-span');
    const got = otlp.spans.find((s) => s.name === 'proto-span');
    expect(got).toBeDefined();
    expect(got!.traceId).toBe(sent.traceId);
    expect(got!.spanId).toBe(sent.spanId);
    expect(got!.parentSpanId).toBeUndefined();
    expect(got!.attributes).toEqual({ 'parley.bytes': 42, 'parley.path': 'http', 'parley.duplicate': false });
    expect(got!.events.map((e) => [e.name, e.attributes])).toEqual([['parley.route.decision', { 'parley.decision': 'sent' }]]);
    expect(got!.status).toEqual({ code: 2, message: 'not_a_member' });
    expect(got!.resource['service.name']).toBe('receiver-test');
    expect(got!.scope.name).toBe('receiver-test');
    const last = otlp.exports[otlp.exports.length - 1]!;
    expect(last).toMatchObject({ contentType: 'application/x-protobuf', status: 200, spans: 2 });
  });

  it('decodes a gzip-compressed export', async () => {
    await exportOne('gzip-span', { OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip' });
    expect(otlp.spans.some((s) => s.name === 'gzip-span')).toBe(true);
    expect(otlp.exports[otlp.exports.length - 1]).toMatchObject({ contentEncoding: 'gzip', status: 200, spans: 2 });
  });

  it('decodes OTLP/JSON (hex ids, string times), plain and gzip, and answers in JSON', async () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'json-test' } }] },
          scopeSpans: [
            {
              scope: { name: 'json-scope' },
              spans: [
                {
                  traceId: '5b8efff798038103d269b633813fc60c',
                  spanId: 'eee19b7ec3c1b174',
                  parentSpanId: 'eee19b7ec3c1b173',
                  name: 'json-span',
                  kind: 1,
                  startTimeUnixNano: '1544712660000000000',
                  endTimeUnixNano: '1544712661000000000',
                  attributes: [{ key: 'parley.envelopes', value: { intValue: '3' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    for (const gzip of [false, true]) {
      const raw = Buffer.from(JSON.stringify(body));
      const res = await fetch(otlp.tracesUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
        body: gzip ? gzipSync(raw) : raw,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({});
    }
    const got = otlp.spans.filter((s) => s.name === 'json-span');
    expect(got).toHaveLength(2);
    expect(got[0]).toMatchObject({ traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', parentSpanId: 'eee19b7ec3c1b173', kind: 1, startTimeUnixNano: '1544712660000000000' });
    expect(got[0]!.attributes).toEqual({ 'parley.envelopes': 3 });
    expect(got[0]!.resource).toEqual({ 'service.name': 'json-test' });
  });

  it('answers 400 with a Status for a malformed body, 415 for another content type, 404 and 405 elsewhere', async () => {
    const before = otlp.spans.length;
    const badProto = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]) });
    expect(badProto.status).toBe(400);
    expect(badProto.headers.get('content-type')).toBe('application/x-protobuf');
    // google.rpc.Status: field 1 (code) = 3 (INVALID_ARGUMENT) comes first.
    expect([...new Uint8Array(await badProto.arrayBuffer()).slice(0, 2)]).toEqual([0x08, 0x03]);
    const badJson = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans": [' });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ code: 3 });
    const badId = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'xyz', name: 'n' }] }] }] }) });
    expect(badId.status).toBe(400);
    const badGzip = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{}' });
    expect(badGzip.status).toBe(400);
    const text = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(text.status).toBe(415);
    const brotli = await fetch(otlp.tracesUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{}' });
    expect(brotli.status).toBe(415);
    expect((await fetch(`${otlp.url}/v1/metrics`, { method: 'POST', body: '' })).status).toBe(404);
    expect((await fetch(otlp.tracesUrl)).status).toBe(405);
    expect(otlp.spans.length).toBe(before);
  });
});

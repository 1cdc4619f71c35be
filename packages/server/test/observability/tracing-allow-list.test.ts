/**
 * The allow-list processor stands in front of every exporter: an attribute, event or span
 * name off the list, a long string, a recorded exception or a free-text status never
 * reaches the span file (nor OTLP, which sits behind the same processor). Pseudonyms are
 * keyed HMACs: stable per key, different across keys, never the raw id.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { randomBytes } from '@parley/core';
import { Tracing, type TraceAttributes } from '../../src/observability/tracing.js';
import type { SpanLine } from '../../src/observability/span-file-exporter.js';
import { reasonCode, type SpanName } from '../../src/observability/span-allow-list.js';
import { TracePseudonyms } from '../../src/observability/tracing-pseudonyms.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-spans-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(path: string): SpanLine[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as SpanLine);
}

describe('span allow-list', () => {
  it('drops whatever is not listed, on spans, events and links', async () => {
    const path = join(dir, 'spans-allow.jsonl');
    const tracing = Tracing.create({ otlpEndpoint: undefined, fileExporterPath: path, serviceName: 'parley-server' }, randomBytes(32), 'node-1');
    expect(tracing.enabled).toBe(true);
    const careless = { text: 'PLAINTEXT hello', 'enduser.phone': '+15550100000', 'parley.bytes': 12, 'parley.reason': 'x'.repeat(200) } as unknown as TraceAttributes;
    await tracing.inSpan('parley.submit', { attributes: careless }, async (span) => {
      span.event('parley.route.decision', { 'parley.decision': 'sent', token: 'secret-token' } as unknown as TraceAttributes);
      // A careless edit that reaches for the raw OpenTelemetry span: an exception event and a free-text status.
      const raw = trace.getActiveSpan();
      expect(raw).toBeUndefined(); // never the global context: nothing outside this instance sees its spans
      span.fail('not_a_member');
    });
    await expect(
      tracing.inSpan('parley.store', { parent: 'active' }, async () => {
        throw Object.assign(new Error('message text for +15550100000'), { code: 'Free text, not a code' });
      }),
    ).rejects.toThrow();
    await tracing.inSpan('parley.exfiltrate' as SpanName, {}, (span) => span.event('exception' as 'parley.route.decision', { 'exception.message': 'PLAINTEXT' } as unknown as TraceAttributes));
    await tracing.shutdown();
    const spans = lines(path);
    expect(spans.map((s) => s.name)).toEqual(['parley.submit', 'parley.store', 'parley.unlisted']);
    const [submit, store, unlisted] = spans as [SpanLine, SpanLine, SpanLine];
    expect(submit.attributes).toEqual({ 'parley.bytes': 12, 'parley.error.code': 'not_a_member' });
    expect(submit.events).toEqual([{ name: 'parley.route.decision', attributes: { 'parley.decision': 'sent' } }]);
    expect(submit.status).toEqual({ code: 2, message: 'not_a_member' });
    expect(store.attributes).toEqual({ 'parley.error.code': 'internal' });
    expect(store.status).toEqual({ code: 2, message: 'internal' });
    expect(unlisted.events).toEqual([]);
    const text = readFileSync(path, 'utf8');
    for (const needle of ['PLAINTEXT', '+1555', 'secret-token', 'xxxxxxxx']) expect(text).not.toContain(needle);
    expect(submit.resource).toEqual({ 'service.name': 'parley-server', 'service.instance.id': 'node-1' });
  });

  it('keeps parents explicit: root by default, the running span with parent "active"', async () => {
    const path = join(dir, 'spans-parents.jsonl');
    const tracing = Tracing.create({ otlpEndpoint: undefined, fileExporterPath: path, serviceName: 'parley-server' }, randomBytes(32), 'node-1');
    await tracing.inSpan('parley.submit', {}, async () => {
      await tracing.inSpan('parley.store', { parent: 'active' }, async () => {});
      await tracing.inSpan('parley.deliver', {}, async () => {});
    });
    await tracing.shutdown();
    const spans = lines(path);
    const submit = spans.find((s) => s.name === 'parley.submit')!;
    expect(spans.find((s) => s.name === 'parley.store')!.parentSpanId).toBe(submit.spanId);
    expect(spans.find((s) => s.name === 'parley.deliver')!.parentSpanId).toBeUndefined();
  });

  it('writes pseudonyms as keyed, truncated HMACs', () => {
    const key = randomBytes(32);
    const a = new TracePseudonyms(key);
    expect(a.of('device', 'dev_123')).toMatch(/^[0-9a-f]{16}$/);
    expect(a.of('device', 'dev_123')).toBe(new TracePseudonyms(key).of('device', 'dev_123'));
    expect(a.of('device', 'dev_123')).not.toBe(new TracePseudonyms(randomBytes(32)).of('device', 'dev_123'));
    expect(a.of('device', 'x')).not.toBe(a.of('business', 'x'));
    expect(reasonCode('channel not configured')).toBe('channel_not_configured');
    expect(reasonCode(null)).toBe('none');
  });
});

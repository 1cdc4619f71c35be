/**
 * The privacy scan's contract: with PARLEY_TELEMETRY_DIR set, a test-kit server traces with
 * the span file exporter (no OTLP endpoint needed) and writes every finished span as one
 * JSON line to `spans-<pid>-<n>.jsonl` there, beside its log file.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '@parley/core';
import { encryptApplication } from '@parley/core/mls';
import { api, createBusiness, createRawGroup, registerRawDevice, startTestServer, suite } from '@parley/test-kit/server';
import type { SpanLine } from '../../src/observability/span-file-exporter.js';

const dir = mkdtempSync(join(tmpdir(), 'parley-telemetry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('span file under PARLEY_TELEMETRY_DIR', () => {
  it('writes the spans of a test server as JSON lines', async () => {
    const saved = process.env['PARLEY_TELEMETRY_DIR'];
    process.env['PARLEY_TELEMETRY_DIR'] = dir;
    let stop: (() => Promise<void>) | undefined;
    try {
      const t = await startTestServer();
      stop = () => t.stop();
      expect(t.server.tracing.enabled).toBe(true);
      const business = await createBusiness(t.url);
      const agent = await registerRawDevice(t.url, business, 'agent', { kind: 'sender' });
      const bob = await registerRawDevice(t.url, business, 'bob');
      const { group } = await createRawGroup(t.url, agent, [bob]);
      const enc = await encryptApplication(await suite(), group, utf8('to the file'));
      const sent = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'file-1', conversationId: group.conversationId, message: toBase64(enc.message) }, agent.token);
      expect(sent.status).toBe(201);
      const mailbox = await api(t.url, 'GET', '/v1/mailbox', undefined, bob.token);
      const ids = (mailbox.body.envelopes as { id: string }[]).map((e) => e.id);
      expect(ids).toContain(sent.body.id);
      expect((await api(t.url, 'POST', '/v1/mailbox/ack', { ids }, bob.token)).status).toBe(200);
    } finally {
      await stop?.();
      if (saved === undefined) delete process.env['PARLEY_TELEMETRY_DIR'];
      else process.env['PARLEY_TELEMETRY_DIR'] = saved;
    }
    const files = readdirSync(dir);
    const spanFile = files.find((f) => new RegExp(`^spans-${process.pid}-\\d+\\.jsonl$`).test(f));
    expect(spanFile, files.join(', ')).toBeDefined();
    expect(files).toContain(spanFile!.replace(/^spans-/, 'logs-'));
    const spans = readFileSync(join(dir, spanFile!), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as SpanLine);
    const names = new Set(spans.map((s) => s.name));
    for (const name of ['parley.submit', 'parley.store', 'parley.deliver', 'parley.ack']) expect(names).toContain(name);
    const fetched = spans.find((s) => s.name === 'parley.deliver' && s.attributes['parley.path'] === 'fetch')!;
    expect(fetched.attributes).toMatchObject({ 'http.route': '/v1/mailbox', 'parley.envelopes': 2 });
    expect(fetched.links.length).toBe(2);
  });
});

/**
 * The SDK's metadata-only diagnostics against a real server: a device that cannot read an
 * envelope reports the reason, and a customer who verifies the business by QR reports that;
 * the request bodies hold only the report's fields (no ids, no text), the server's hourly
 * aggregate shows reason, SDK version and platform and nothing else, and `diagnostics: false`
 * sends nothing.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender, type DeviceEvent } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { UNDECRYPTABLE_REASONS, toBase64, type Envelope } from '@parley/core';
import { createBusiness, enrollSender, EventLog, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { SDK_VERSION } from '../src/sdk-version.js';
import { DIAGNOSTICS_BATCH_MS, DiagnosticsReporter } from '../src/diagnostics.js';
import { EventHub } from '../src/event-hub.js';
import { ApiError, TransportError } from '../src/errors.js';

let t: TestServer;
let bank: Business;
let sender: Sender;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'diag-bank');
  sender = await enrollSender(t.url, bank);
  await sender.connect();
}, 120_000);
afterAll(async () => {
  await sender?.close();
  await t?.stop();
});

/** A customer's device whose HTTP calls to /v1/diagnostics are recorded (body text). */
async function customer(subject: string, options: { diagnostics?: boolean } = {}): Promise<{ device: Device; reports: string[] }> {
  const reports: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    if (String(input).endsWith('/v1/diagnostics')) reports.push(String(init?.body));
    return fetch(input, init);
  };
  const device = await Device.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(subject, 'customer'),
    store: new MemoryKeyStore(),
    keyPackageBatch: 3,
    recoveryDelayMs: 200,
    fetch: recording,
    ...options,
    ...nodeRuntime,
  });
  return { device, reports };
}

const undecryptable = (e: DeviceEvent): e is Extract<DeviceEvent, { type: 'undecryptable' }> => e.type === 'undecryptable';

async function aggregate(): Promise<Record<string, unknown>[]> {
  return t.server.db.query('SELECT * FROM decrypt_failures_hourly ORDER BY reason');
}

describe('diagnostics (SDK → POST /v1/diagnostics)', () => {
  it('the SDK version is the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(SDK_VERSION).toBe(pkg.version);
  });

  it('an undecryptable envelope is reported as reason, version and platform only', async () => {
    const { device, reports } = await customer('c-undecryptable');
    const log = new EventLog(device);
    await device.connect();
    const hello = await sender.send('c-undecryptable', 'hello', { class: 'support' });
    await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
    // Two envelopes it cannot read: one of a conversation it never joined, one of its conversation with garbage inside.
    const base = { senderDeviceId: sender.device.deviceId, senderIdentityId: sender.device.identityId, kind: 'application', createdAt: new Date().toISOString() } as const;
    const stranger = 'cnv_' + 'A'.repeat(22);
    const garbage: Envelope[] = [
      { ...base, id: '900000001', conversationId: stranger, payload: toBase64(new Uint8Array(64).fill(7)) } as Envelope,
      { ...base, id: '900000002', conversationId: hello.conversationId, payload: toBase64(new Uint8Array(80).fill(9)) } as Envelope,
    ];
    await device.receive(garbage);
    const events = [await log.waitFor((e) => undecryptable(e) && e.envelopeId === '900000001'), await log.waitFor((e) => undecryptable(e) && e.envelopeId === '900000002')];
    const reasons = events.map((e) => (e as Extract<DeviceEvent, { type: 'undecryptable' }>).reason);
    for (const r of reasons) expect(UNDECRYPTABLE_REASONS).toContain(r);

    // Both in one report: a burst is batched.
    await expect.poll(async () => (await aggregate()).reduce((n, row) => n + Number(row['count']), 0), { timeout: 10_000 }).toBe(2);
    const expected = new Map<string, number>();
    for (const r of reasons) expected.set(r, (expected.get(r) ?? 0) + 1);
    const rows = await aggregate();
    expect(rows.map((row) => Object.keys(row).sort())).toEqual(rows.map(() => ['count', 'hour', 'platform', 'reason', 'sdk_version']));
    expect(rows.map((row) => ({ reason: row['reason'], version: row['sdk_version'], platform: row['platform'], count: Number(row['count']) }))).toEqual(
      [...expected].sort(([a], [b]) => a.localeCompare(b)).map(([reason, count]) => ({ reason, version: SDK_VERSION, platform: 'node', count })),
    );
    // What went over the wire: the report's fields, no id and no text of any envelope or conversation.
    expect(reports).toHaveLength(1);
    for (const body of reports) {
      const report = JSON.parse(body) as Record<string, unknown>;
      expect(Object.keys(report).sort()).toEqual(['decryptFailures', 'platform', 'sdkVersion']);
      expect(report).toMatchObject({ sdkVersion: SDK_VERSION, platform: 'node' });
      for (const needle of [stranger, hello.conversationId, '900000001', '900000002', sender.device.deviceId, device.deviceId, device.identityId]) expect(body).not.toContain(needle);
    }
    await device.close();
  });

  it("a customer's QR verification of the business is reported against its own identity", async () => {
    const { device, reports } = await customer('c-verifies');
    await device.connect();
    const qr = await sender.device.keys.verificationQr(device.identityId);
    expect(await device.keys.verifyScanned(sender.device.identityId, qr)).toBe('match');
    await expect
      .poll(async () => t.server.db.query<{ identity_id: string; state: string; method: string }>('SELECT identity_id, state, method FROM customer_verifications'), { timeout: 10_000 })
      .toEqual([{ identity_id: device.identityId, state: 'verified', method: 'qr' }]);
    expect(reports.map((body) => JSON.parse(body) as unknown)).toEqual([{ sdkVersion: SDK_VERSION, platform: 'node', verification: { state: 'verified', method: 'qr' } }]);
    await device.close();
  });

  it('diagnostics: false sends nothing', async () => {
    const { device, reports } = await customer('c-opted-out', { diagnostics: false });
    const log = new EventLog(device);
    await device.connect();
    await device.receive([
      {
        id: '900000003',
        conversationId: 'cnv_' + 'B'.repeat(22),
        senderDeviceId: sender.device.deviceId,
        senderIdentityId: sender.device.identityId,
        kind: 'application',
        payload: toBase64(new Uint8Array(64)),
        createdAt: new Date().toISOString(),
      } as Envelope,
    ]);
    await log.waitFor(undecryptable);
    expect(await device.keys.verifyScanned(sender.device.identityId, await sender.device.keys.verificationQr(device.identityId))).toBe('match');
    // Longer than a report of a device with diagnostics on waits.
    await new Promise((r) => setTimeout(r, DIAGNOSTICS_BATCH_MS + 1500));
    expect(reports).toEqual([]);
    await device.close();
  });

  it('a failed report is silent and its counts go with the next one; a refused one is dropped', async () => {
    const hub = new EventHub<DeviceEvent>();
    const sent: unknown[] = [];
    const answers: (Error | undefined)[] = [new TransportError('offline'), undefined, new ApiError(400, 'invalid_request', 'no'), undefined];
    const api = {
      send: async (_method: string, _path: string, init: { body?: string | Uint8Array }) => {
        sent.push(JSON.parse(String(init.body)));
        const answer = answers.shift();
        if (answer) throw answer;
        return new Response(JSON.stringify({ accepted: true }), { status: 202 });
      },
    };
    const reporter = new DiagnosticsReporter({ api, hub, identityId: 'diag-bank:c-unit' as never, kind: () => 'customer', intervalMs: 10, platform: 'ios' });
    const fail = (reason: string) => hub.emit({ type: 'undecryptable', envelopeId: '1', conversationId: 'c'.repeat(16), senderDeviceId: 'd', reason: reason as never });
    fail('missed-epoch');
    fail('missed-epoch');
    await expect.poll(() => sent.length, { timeout: 10_000 }).toBe(2);
    const expected = { sdkVersion: SDK_VERSION, platform: 'ios', decryptFailures: [{ reason: 'missed-epoch', count: 2 }] };
    // Offline at first: the same counts again.
    expect(sent).toEqual([expected, expected]);
    fail('a reason from a newer SDK');
    await expect.poll(() => sent.length, { timeout: 10_000 }).toBe(3);
    expect(sent[2]).toEqual({ ...expected, decryptFailures: [{ reason: 'other', count: 1 }] });
    // The server refused that report (400): its count is dropped, not sent again.
    fail('decrypt-failed');
    await expect.poll(() => sent.length, { timeout: 10_000 }).toBe(4);
    expect(sent[3]).toEqual({ ...expected, decryptFailures: [{ reason: 'decrypt-failed', count: 1 }] });
    reporter.close();
    fail('decrypt-failed');
    await new Promise((r) => setTimeout(r, DIAGNOSTICS_BATCH_MS + 500));
    expect(sent).toHaveLength(4);
  }, 30_000);
});

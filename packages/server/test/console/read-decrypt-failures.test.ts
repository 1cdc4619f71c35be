/**
 * `POST /v1/diagnostics` (device session, metadata only) and the console's decrypt-failure
 * and verification counts built from it, over real HTTP and a real database: valid reports
 * aggregate by hour, reason, version and platform; unknown reasons, platforms and malformed
 * versions become `other`; a device reports only for itself; bad input is 4xx; the 11th report
 * of the hour is 429.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestServer } from '@parley/test-kit/server';
import { decryptFailuresView } from '../../src/console/read-decrypt-failures.js';
import { verificationView } from '../../src/console/read-verification.js';

let t: TestServer;
let customerA: RawDevice;
let customerB: RawDevice;
let agent: RawDevice;

beforeAll(async () => {
  t = await startTestServer();
  const bank = await createBusiness(t.url, 'diag-view-bank');
  customerA = await registerRawDevice(t.url, bank, 'c-a', { keyPackages: 1 });
  customerB = await registerRawDevice(t.url, bank, 'c-b', { keyPackages: 1 });
  agent = await registerRawDevice(t.url, bank, 'agent-1', { kind: 'agent', keyPackages: 1 });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const report = (device: RawDevice, body: unknown) => api(t.url, 'POST', '/v1/diagnostics', body, device.token);

describe('POST /v1/diagnostics', () => {
  it('aggregates reports by hour, reason, version and platform; anything off-list is `other`', async () => {
    expect(await report(customerA, { sdkVersion: '1.2.3', platform: 'node', decryptFailures: [{ reason: 'missed-epoch', count: 2 }, { reason: 'decrypt-failed', count: 1 }] })).toMatchObject({
      status: 202,
      body: { accepted: true },
    });
    expect((await report(customerB, { sdkVersion: '1.2.3', platform: 'node', decryptFailures: [{ reason: 'missed-epoch', count: 3 }] })).status).toBe(202);
    // An unknown reason, a version that is not semver, one over 32 characters, an unknown platform.
    expect((await report(customerB, { sdkVersion: '1.2.3 (build 7; john@example)', platform: 'browser', decryptFailures: [{ reason: 'my phone is broken', count: 4 }] })).status).toBe(202);
    expect((await report(agent, { sdkVersion: `1.2.3-${'a'.repeat(30)}`, platform: 'toaster', decryptFailures: [{ reason: 'invalid-welcome', count: 1 }] })).status).toBe(202);

    const rows = await t.server.db.query<{ reason: string; sdk_version: string; platform: string; count: string }>(
      'SELECT reason, sdk_version, platform, count FROM decrypt_failures_hourly ORDER BY reason, sdk_version',
    );
    expect(rows.map((r) => ({ ...r, count: Number(r.count) }))).toEqual([
      { reason: 'decrypt-failed', sdk_version: '1.2.3', platform: 'node', count: 1 },
      { reason: 'invalid-welcome', sdk_version: 'other', platform: 'other', count: 1 },
      { reason: 'missed-epoch', sdk_version: '1.2.3', platform: 'node', count: 5 },
      { reason: 'other', sdk_version: 'other', platform: 'browser', count: 4 },
    ]);
    // Nothing of who reported: no device or identity anywhere in the aggregate.
    const dump = JSON.stringify(await t.server.db.query('SELECT * FROM decrypt_failures_hourly'));
    for (const d of [customerA, customerB, agent]) expect(dump).not.toContain(d.deviceId);
    expect(dump).not.toContain('c-a');

    const view = await decryptFailuresView(t.server.db, { hours: 168 });
    expect(view.total).toBe(11);
    expect(view.byReason).toEqual([
      { reason: 'missed-epoch', count: 5 },
      { reason: 'other', count: 4 },
      { reason: 'decrypt-failed', count: 1 },
      { reason: 'invalid-welcome', count: 1 },
    ]);
    expect(view.byVersion).toEqual([
      { sdkVersion: '1.2.3', platform: 'node', count: 6 },
      { sdkVersion: 'other', platform: 'browser', count: 4 },
      { sdkVersion: 'other', platform: 'other', count: 1 },
    ]);
    expect(view.buckets).toHaveLength(169);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    expect(view.buckets.at(-1)).toEqual({ at: hour, count: 11 });
    expect(view.buckets.slice(0, -1).every((b) => b.count === 0)).toBe(true);
    // A window that ends before this hour sees nothing.
    expect((await decryptFailuresView(t.server.db, { hours: 5, now: new Date(Date.now() - 2 * 3_600_000) })).total).toBe(0);
  });

  it("records a customer's verification of the business for the session's identity only", async () => {
    expect((await report(customerA, { sdkVersion: '1.2.3', platform: 'node', verification: { state: 'verified', method: 'qr' } })).status).toBe(202);
    // An agent is no customer: nothing recorded.
    expect((await report(agent, { sdkVersion: '1.2.3', platform: 'node', verification: { state: 'verified', method: 'numeric' } })).status).toBe(202);
    // No way to name another identity.
    const other = await report(customerB, { sdkVersion: '1.2.3', platform: 'node', identityId: customerA.identityId, verification: { state: 'unverified' } });
    expect([other.status, other.body.error.code]).toEqual([400, 'invalid_request']);
    const rows = await t.server.db.query<{ identity_id: string; state: string; method: string | null }>('SELECT identity_id, state, method FROM customer_verifications');
    expect(rows).toEqual([{ identity_id: customerA.identityId, state: 'verified', method: 'qr' }]);
    const view = await verificationView(t.server.db, { keyLogName: t.server.keyLog.name });
    expect(view.customers).toEqual({ total: 2, verified: 1 });
    expect(view.byMethod).toEqual({ qr: 1, numeric: 0 });
    // The customer later reports a change: unverified, no method.
    expect((await report(customerA, { sdkVersion: '1.2.3', platform: 'node', verification: { state: 'unverified' } })).status).toBe(202);
    expect((await verificationView(t.server.db, { keyLogName: t.server.keyLog.name })).customers).toEqual({ total: 2, verified: 0 });
  });

  it('refuses the unauthenticated, the malformed and the oversized with 4xx codes', async () => {
    const valid = { sdkVersion: '1.2.3', platform: 'node', decryptFailures: [{ reason: 'missed-epoch', count: 1 }] };
    const anonymous = await api(t.url, 'POST', '/v1/diagnostics', valid);
    expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'session_required']);
    const bad = await api(t.url, 'POST', '/v1/diagnostics', valid, 'not-a-session-token');
    expect(bad.status).toBe(401);
    const fresh = await registerRawDevice(t.url, await createBusiness(t.url, 'diag-bad-input'), 'c-x', { keyPackages: 1 });
    for (const body of [
      { ...valid, decryptFailures: [{ reason: 'missed-epoch', count: 0 }] },
      { ...valid, decryptFailures: [{ reason: 'x'.repeat(65), count: 1 }] },
      { ...valid, decryptFailures: [{ reason: 'missed-epoch', count: 1, messageId: 'm-1' }] },
      { ...valid, note: 'free text' },
      { platform: 'node' },
    ]) {
      const res = await report(fresh, body);
      expect([res.status, res.body.error.code], JSON.stringify(body)).toEqual([400, 'invalid_request']);
    }
    const oversized = await report(fresh, { ...valid, decryptFailures: Array.from({ length: 16 }, () => ({ reason: 'p'.repeat(64), count: 1 })), pad: 'x'.repeat(4096) });
    expect([oversized.status, oversized.body.error.code]).toEqual([413, 'payload_too_large']);
  });

  it('limits each device to 10 reports an hour (429 rate_limited)', async () => {
    const device = await registerRawDevice(t.url, await createBusiness(t.url, 'diag-rate'), 'c-r', { keyPackages: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await report(device, { sdkVersion: '1.0.0', platform: 'ios', decryptFailures: [{ reason: 'decrypt-failed', count: 1 }] })).status);
    expect(statuses).toEqual([...Array<number>(10).fill(202), 429]);
    const limited = await report(device, { sdkVersion: '1.0.0', platform: 'ios' });
    expect([limited.status, limited.body.error.code]).toEqual([429, 'rate_limited']);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another device is not limited by it.
    expect((await report(customerB, { sdkVersion: '1.0.0', platform: 'ios' })).status).toBe(202);
  });
});

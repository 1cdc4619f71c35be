/**
 * The console's transparency-log and verification views on a real server: sizes, checkpoints
 * and history of both logs as the public endpoints serve them, a monitor whose check is real
 * (it fails once the stored tree no longer proves the latest checkpoint consistent with the
 * previous one), and pending devices and key changes from devices enrolled, approved-to-be and
 * revoked through the SDK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openNote, parseCheckpoint, parseVerifierKey } from '@parley/core/tlog';
import { createBusiness, enroll, enrollApproved, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { logsView } from '../../src/console/read-logs.js';
import { verificationView } from '../../src/console/read-verification.js';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'logs-bank');
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('console verification view', () => {
  it('lists pending devices and the key log’s device changes', async () => {
    const phone = await enroll(t.url, bank, 'c-1', 'customer', undefined, 'phone');
    const tablet = await enroll(t.url, bank, 'c-1', 'customer', undefined, 'tablet');
    const laptop = await enrollApproved(t.url, bank, 'c-1', phone, undefined, 'laptop');
    await enroll(t.url, bank, 'c-2', 'customer');
    let view = await verificationView(t.server.db, { keyLogName: t.server.keyLog.name });
    expect(view.customers).toEqual({ total: 2, verified: 0 });
    // The tablet waits for approval; the laptop was approved.
    expect(view.pendingDevices).toEqual([{ deviceId: tablet.deviceId, identityId: 'logs-bank:c-1', label: 'tablet', createdAt: expect.any(String) }]);
    await phone.keys.revokeDevice(laptop.deviceId);
    view = await verificationView(t.server.db, { keyLogName: t.server.keyLog.name });
    expect(view.keyChanges[0]).toMatchObject({ deviceId: laptop.deviceId, identityId: 'logs-bank:c-1', kind: 'device-revoked' });
    const added = view.keyChanges.filter((c) => c.kind === 'device-added').map((c) => c.deviceId);
    expect(added).toEqual(expect.arrayContaining([phone.deviceId, tablet.deviceId, laptop.deviceId]));
    expect(added).toHaveLength(4);
    // Approvals are no key change of their own: 4 added, 1 revoked.
    expect(view.keyChanges).toHaveLength(5);
    // Newest first.
    const times = view.keyChanges.map((c) => Date.parse(c.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect((await verificationView(t.server.db, { keyLogName: t.server.keyLog.name, changesLimit: 1 })).keyChanges).toHaveLength(1);
    await Promise.all([phone.close(), tablet.close(), laptop.close()]);
  });
});

describe('console logs view', () => {
  it('shows both logs as served, with history, and a monitor that checks consistency', async () => {
    await t.server.keyLog.sequence();
    const { logs, monitor } = await logsView(t.server.db, [t.server.keyLog, t.server.auditLog]);
    expect(logs.map((l) => l.name)).toEqual(['keys', 'audit']);
    const served = (await (await fetch(`${t.url}/v1/logs`)).json()) as { logs: { name: string; origin: string; verifierKeys: string[] }[] };
    for (const log of logs) {
      const listed = served.logs.find((l) => l.name === log.name)!;
      expect(log.origin).toBe(listed.origin);
      expect(log.verifierKeys).toEqual(listed.verifierKeys);
      expect(log.checkpoint).toBe(await (await fetch(`${t.url}/logs/${log.name}/checkpoint`)).text());
      const cp = parseCheckpoint(openNote(log.checkpoint, log.verifierKeys.map((k) => parseVerifierKey(k))).text);
      expect(cp.treeSize).toBe(log.size);
      expect(log.history.length).toBeGreaterThanOrEqual(1);
      expect(log.history.at(-1)!.size).toBe(log.size);
    }
    // Six key-log entries so far (4 devices added, 1 approved, 1 revoked), sequenced one by one: checkpoints of growing size.
    expect(logs[0]!.size).toBe(6);
    expect(monitor).toEqual({ checkedAt: expect.any(String), ok: true, problems: [] });

    // The stored tree is altered under the log: the latest checkpoint no longer follows from the previous one.
    await t.server.db.query(`UPDATE tlog_hashes SET hash = sha256(hash) WHERE log = 'keys'`);
    const broken = await logsView(t.server.db, [t.server.keyLog, t.server.auditLog]);
    expect(broken.monitor.ok).toBe(false);
    expect(broken.monitor.problems).toEqual([expect.stringMatching(/^keys: .*consistent/)]);
  });
});

/**
 * Periodic upkeep against a real server on loopback (maintenance.ts, docs/maintenance.md):
 * self-updates of the device's own leaf, KeyPackage lifetimes, rotation and the deletion of
 * expired private halves. Devices run on an injectable clock (`now`); the server compares
 * with real time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@parley/core';
import { CLASSIC_SUITE } from '@parley/core/mls';
import { Device, MemoryKeyStore, type DeviceEvent, type EnrollOptions } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import type { DeviceParts } from '../src/device-parts.js';
import type { KeyPackageRecordV1 } from '../src/records.js';
import { EventLog, createBusiness, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'upkeep-bank');
});
afterAll(async () => t?.stop());

/** A clock the test moves: real time plus `offset`. */
function clock(offset = 0): { now: () => Date; offset: number } {
  const c = { offset, now: () => new Date(Date.now() + c.offset) };
  return c;
}

async function enrollWith(subject: string, kind: 'customer' | 'agent', options: Partial<EnrollOptions> = {}): Promise<Device> {
  return Device.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(subject, kind),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    recoveryDelayMs: 500,
    // One suite keeps the KeyPackage arithmetic below readable; a stock per suite is covered by post-quantum.test.ts.
    suites: [CLASSIC_SUITE],
    ...nodeRuntime,
    ...options,
  });
}

/** The HPKE (encryption) key of `deviceId`'s leaf as `viewer` holds the group (base64). */
function leafKey(viewer: Device, conversationId: string, deviceId: string): string {
  const group = (viewer as unknown as { parts: DeviceParts }).parts.conversations.require(conversationId).group;
  const leafIndex = group.members().find((m) => m.member.deviceId === deviceId)!.leafIndex;
  const tree = (group.state as unknown as { ratchetTree: ({ nodeType: string; leaf: { hpkePublicKey: Uint8Array } } | undefined)[] }).ratchetTree;
  return toBase64(tree[leafIndex * 2]!.leaf.hpkePublicKey);
}

/** This device's KeyPackage records in its store. */
async function keyPackageRecords(store: MemoryKeyStore): Promise<KeyPackageRecordV1[]> {
  const out: KeyPackageRecordV1[] = [];
  for (const name of await store.list('kp/')) out.push(JSON.parse(new TextDecoder().decode((await store.get(name))!)) as KeyPackageRecordV1);
  return out;
}

async function rowsOnServer(deviceId: string): Promise<{ not_after: Date }[]> {
  return t.server.db.query<{ not_after: Date }>('SELECT not_after FROM key_packages WHERE device_id = $1', [deviceId]);
}

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

/** A conversation of `agent` with `members`, joined by all of them. */
async function conversation(agent: Device, members: Device[]): Promise<string> {
  const logs = members.map((m) => new EventLog(m));
  const id = await agent.createConversation(members.map((m) => m.identityId));
  for (const m of members) await m.sync();
  for (const log of logs) await log.waitFor((e) => e.type === 'conversation-joined' && e.conversationId === id);
  return id;
}

describe('self-updates', () => {
  it('commits a fresh own leaf once the interval has passed: the epoch advances, the other member sees the new key and still reads', async () => {
    const phoneClock = clock();
    const agent = await enrollWith('agent-su', 'agent');
    const phone = await enrollWith('cust-su', 'customer', { now: phoneClock.now, selfUpdateIntervalMs: HOUR });
    const agentLog = new EventLog(agent);
    const phoneLog = new EventLog(phone);
    await Promise.all([agent.connect(), phone.connect()]);
    const conv = await conversation(agent, [phone]);
    const epoch = phone.epoch(conv);
    const keyBefore = leafKey(agent, conv, phone.deviceId);
    expect(leafKey(phone, conv, phone.deviceId)).toBe(keyBefore);

    // Not yet due: nothing is committed.
    expect((await phone.maintain()).selfUpdated).toEqual([]);
    expect(phone.epoch(conv)).toBe(epoch);

    phoneClock.offset = 2 * HOUR;
    const report = await phone.maintain();
    expect(report).toMatchObject({ selfUpdated: [conv], failed: 0 });
    expect(phone.epoch(conv)).toBe(epoch + 1n);
    expect(phoneLog.events).toContainEqual({ type: 'self-updated', conversationId: conv, epoch: String(epoch + 1n) });
    await agentLog.waitFor((e) => e.type === 'membership-changed' && e.conversationId === conv && e.epoch === String(epoch + 1n));
    expect(agent.epoch(conv)).toBe(epoch + 1n);
    const keyAfter = leafKey(agent, conv, phone.deviceId);
    expect(keyAfter).not.toBe(keyBefore);
    expect(leafKey(phone, conv, phone.deviceId)).toBe(keyAfter);

    // Both ends still read each other in the new epoch.
    const fromPhone = await phone.send(conv, 'after my update');
    await agentLog.waitFor(isMessage(fromPhone.messageId));
    const fromAgent = await agent.send(conv, 'read you');
    await phoneLog.waitFor(isMessage(fromAgent.messageId));

    // The update was recorded: the next run has nothing to do until the interval passes again.
    expect((await phone.maintain()).selfUpdated).toEqual([]);
    phoneClock.offset = 3.5 * HOUR;
    expect((await phone.maintain()).selfUpdated).toEqual([conv]);
    expect(phone.epoch(conv)).toBe(epoch + 2n);
    await Promise.all([agent.close(), phone.close()]);
  });

  it('runs on a timer while connected, and stops when the device disconnects', async () => {
    const agent = await enrollWith('agent-timer', 'agent');
    const phone = await enrollWith('cust-timer', 'customer', { selfUpdateIntervalMs: 1500 });
    const agentLog = new EventLog(agent);
    const phoneLog = new EventLog(phone);
    await agent.connect();
    const conv = await conversation(agent, [phone]);
    const epoch = phone.epoch(conv);
    await phone.connect();
    const updated = await phoneLog.waitFor((e) => e.type === 'self-updated' && e.conversationId === conv, 15_000);
    expect(BigInt((updated as { epoch: string }).epoch)).toBeGreaterThan(epoch);
    await agentLog.waitFor((e) => e.type === 'membership-changed' && e.conversationId === conv && e.by?.deviceId === phone.deviceId);
    const sent = await phone.send(conv, 'still readable');
    await agentLog.waitFor(isMessage(sent.messageId));

    await phone.disconnect();
    await phone.idle();
    const count = phoneLog.events.filter((e) => e.type === 'self-updated').length;
    const epochOffline = phone.epoch(conv);
    await new Promise((r) => setTimeout(r, 3500));
    expect(phoneLog.events.filter((e) => e.type === 'self-updated')).toHaveLength(count);
    expect(phone.epoch(conv)).toBe(epochOffline);
    await Promise.all([agent.close(), phone.close()]);
  });

  it('commits nothing when disabled (`false` or `0`)', async () => {
    // Enrolled now (a KeyPackage made on a clock ahead would not be valid yet), maintained two months on.
    const later = clock();
    const agent = await enrollWith('agent-off', 'agent');
    const a = await enrollWith('cust-off-a', 'customer', { now: later.now, selfUpdateIntervalMs: false });
    const b = await enrollWith('cust-off-b', 'customer', { now: later.now, selfUpdateIntervalMs: 0 });
    const agentLog = new EventLog(agent);
    await agent.connect();
    const conv = await conversation(agent, [a, b]);
    const epoch = agent.epoch(conv);
    later.offset = 60 * DAY;
    for (const device of [a, b]) {
      const report = await device.maintain();
      expect(report.selfUpdated).toEqual([]);
      expect(report.failed).toBe(0);
      expect(device.epoch(conv)).toBe(epoch);
    }
    await agent.sync();
    expect(agent.epoch(conv)).toBe(epoch);
    expect(agentLog.events.filter((e) => e.type === 'membership-changed' && e.conversationId === conv && e.by?.deviceId !== agent.deviceId)).toEqual([]);
    await Promise.all([agent.close(), a.close(), b.close()]);
  });
});

describe('KeyPackage lifetimes', () => {
  it('never lets anyone claim an expired KeyPackage; a top-up makes the device reachable again', async () => {
    const store = new MemoryKeyStore();
    const agent = await enrollWith('agent-exp', 'agent');
    const phone = await enrollWith('cust-exp', 'customer', { store, keyPackageLifetimeMs: 3000 });
    const records = await keyPackageRecords(store);
    expect(records).toHaveLength(6);
    for (const r of records) expect(Date.parse(r.notAfter!) - Date.parse(r.createdAt)).toBeLessThanOrEqual(4000);
    // The lifetime ends: the server stops counting them (still holding the rows until its sweep).
    await expect.poll(async () => phone.api.keyPackageStock(), { timeout: 10_000, interval: 250 }).toMatchObject({ oneTime: 0, lastResort: false, low: true });
    expect(await rowsOnServer(phone.deviceId)).toHaveLength(6);
    await expect(agent.createConversation([phone.identityId])).rejects.toMatchObject({ code: 'no_key_package' });
    await phone.close();

    // The next run of the device, with the default lifetime: its maintenance tops the stock up
    // (nothing to rotate: the server names no usable KeyPackage).
    const reopened = await Device.open({ store, ...nodeRuntime, keyPackageBatch: 5, suites: [CLASSIC_SUITE] });
    const log = new EventLog(reopened);
    expect(await reopened.maintain()).toMatchObject({ keyPackagesRotated: 0, failed: 0 });
    expect(log.events).toContainEqual({ type: 'key-packages-replenished', uploaded: 20 });
    const stock = await reopened.api.keyPackageStock();
    expect(stock).toMatchObject({ lastResort: true, low: false });
    expect(Date.parse(stock.oldestNotAfter!)).toBeGreaterThan(Date.now() + 29 * DAY);
    const conv = await agent.createConversation([reopened.identityId]);
    await reopened.sync();
    await log.waitFor((e) => e.type === 'conversation-joined' && e.conversationId === conv);
    await Promise.all([agent.close(), reopened.close()]);
  });

  it('replaces a stock past the rotation age: the old KeyPackages are gone from the server', async () => {
    const store = new MemoryKeyStore();
    const phoneClock = clock(-16 * DAY);
    // A full stock from the start (not low: twice the watermark of 10), so only rotation changes it.
    const phone = await enrollWith('cust-rot', 'customer', { store, now: phoneClock.now, keyPackageBatch: 20 });
    const log = new EventLog(phone);
    const enrolled = await rowsOnServer(phone.deviceId);
    expect(enrolled).toHaveLength(21);
    // Made 16 days ago with a 30-day lifetime: 14 days left, less than the 15 a fresh stock keeps before rotating.
    for (const row of enrolled) expect(new Date(row.not_after).getTime()).toBeLessThan(Date.now() + 15 * DAY);

    phoneClock.offset = -14 * DAY;
    expect((await phone.maintain()).keyPackagesRotated).toBe(0);
    expect(await rowsOnServer(phone.deviceId)).toHaveLength(21);

    phoneClock.offset = 0;
    const report = await phone.maintain();
    // A full stock: twice the server's low watermark (10), one-time, plus a last-resort one.
    expect(report).toMatchObject({ keyPackagesRotated: 20, keyPackagesDeleted: 0, failed: 0 });
    expect(log.events).toContainEqual({ type: 'key-packages-rotated', uploaded: 20 });
    const rows = await rowsOnServer(phone.deviceId);
    expect(rows).toHaveLength(21);
    for (const row of rows) expect(new Date(row.not_after).getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
    expect(await phone.api.keyPackageStock()).toMatchObject({ oneTime: 20, lastResort: true, low: false });
    // The old private halves stay until they expired plus the grace period (a Welcome may be in flight).
    expect(await keyPackageRecords(store)).toHaveLength(42);
    expect((await phone.maintain()).keyPackagesRotated).toBe(0);
    await phone.close();
  });

  it('deletes private halves once their KeyPackage expired and the grace period passed', async () => {
    const store = new MemoryKeyStore();
    const phoneClock = clock();
    const phone = await enrollWith('cust-grace', 'customer', { store, now: phoneClock.now, keyPackageGraceMs: 7 * DAY });
    const enrolled = await keyPackageRecords(store);
    expect(enrolled).toHaveLength(6);
    const expiry = Math.max(...enrolled.map((r) => Date.parse(r.notAfter!)));

    // Expired six days ago: within the grace period, kept (the stock is rotated meanwhile).
    phoneClock.offset = expiry + 6 * DAY - Date.now();
    const first = await phone.maintain();
    expect(first).toMatchObject({ keyPackagesRotated: 20, keyPackagesDeleted: 0, failed: 0 });
    expect(await keyPackageRecords(store)).toHaveLength(27);

    // Past the grace period: the enrolment's private halves go, the rotated ones stay.
    phoneClock.offset = expiry + 8 * DAY - Date.now();
    const second = await phone.maintain();
    expect(second).toMatchObject({ keyPackagesRotated: 0, keyPackagesDeleted: 6, failed: 0 });
    const left = await keyPackageRecords(store);
    expect(left).toHaveLength(21);
    for (const r of left) expect(Date.parse(r.notAfter!)).toBeGreaterThan(expiry + 20 * DAY);
    await phone.close();
  });
});

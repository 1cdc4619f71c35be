/**
 * KeyPackage lifetimes on the server (RFC 9420 §7.2): an expired KeyPackage is never handed
 * out nor counted, the retention sweep deletes it, and `replace: true` swaps a device's stock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@parley/core';
import { createKeyPackage } from '@parley/core/mls';
import { sweepExpiredKeyPackages } from '../src/repos/key-packages.js';
import { api, createBusiness, registerRawDevice, startTestServer, suite, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bank: TestBusiness;

beforeAll(async () => {
  t = await startTestServer({ keyPackages: { lowWatermark: 2 } });
  bank = await createBusiness(t.url);
});
afterAll(async () => t?.stop());

async function freshKeyPackages(device: RawDevice, count: number, lifetimeSeconds?: number): Promise<string[]> {
  const s = await suite();
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const kp = await createKeyPackage(s, { identityId: device.identityId, deviceId: device.deviceId }, device.signature, lifetimeSeconds === undefined ? {} : { lifetimeSeconds });
    out.push(toBase64(kp.keyPackage));
  }
  return out;
}

/** Ends the lifetime of every KeyPackage of a device now (as if its `notAfter` had passed). */
async function expireAll(deviceId: string): Promise<void> {
  await t.server.db.query("UPDATE key_packages SET not_after = now() - interval '1 second' WHERE device_id = $1", [deviceId]);
}

async function rowsOf(deviceId: string): Promise<number> {
  const rows = await t.server.db.query<{ n: string }>('SELECT count(*) AS n FROM key_packages WHERE device_id = $1', [deviceId]);
  return Number(rows[0]!.n);
}

describe('KeyPackage lifetimes', () => {
  it('never hands out an expired KeyPackage, does not count it, and the sweep deletes it', async () => {
    const target = await registerRawDevice(t.url, bank, 'kp-expiring', { keyPackages: 3 });
    const agent = await registerRawDevice(t.url, bank, 'kp-agent-1', { kind: 'agent' });
    const before = await api(t.url, 'GET', '/v1/key-packages/stock', undefined, target.token);
    expect(before.body).toMatchObject({ oneTime: 3, lastResort: true, low: false });
    // The stock names when its first KeyPackage expires: the lifetime in the leaf node.
    const soonest = Math.min(...target.keyPackages.map((k) => Number(k.notAfter) * 1000));
    expect(Date.parse(before.body.oldestNotAfter)).toBe(soonest);

    await expireAll(target.deviceId);
    const claim = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, agent.token);
    expect(claim.status).toBe(404);
    expect(claim.body.error.code).toBe('no_key_package');
    const stock = await api(t.url, 'GET', '/v1/key-packages/stock', undefined, target.token);
    expect(stock.body).toEqual({ suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', oneTime: 0, lastResort: false, low: true, lowWatermark: 2 });
    expect(await rowsOf(target.deviceId)).toBe(4);

    expect(await sweepExpiredKeyPackages(t.server.db)).toBeGreaterThanOrEqual(4);
    expect(await rowsOf(target.deviceId)).toBe(0);

    // Topped up, the device is claimable again, and only with the new KeyPackages.
    const fresh = await freshKeyPackages(target, 2);
    const [lastResort] = await freshKeyPackages(target, 1);
    const up = await api(t.url, 'POST', '/v1/key-packages', { keyPackages: fresh, lastResortKeyPackage: lastResort }, target.token);
    expect(up.status).toBe(200);
    const again = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, agent.token);
    expect(again.status).toBe(200);
    expect(fresh).toContain(again.body.keyPackages[0].keyPackage);
  });

  it('refuses a KeyPackage whose lifetime has already ended', async () => {
    const target = await registerRawDevice(t.url, bank, 'kp-late', { keyPackages: 1 });
    const s = await suite();
    const old = await createKeyPackage(s, { identityId: target.identityId, deviceId: target.deviceId }, target.signature, {
      now: new Date(Date.now() - 10 * 86_400_000),
      lifetimeSeconds: 86_400,
    });
    const res = await api(t.url, 'POST', '/v1/key-packages', { keyPackages: [toBase64(old.keyPackage)] }, target.token);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('key_package_expired');
  });

  it('with `replace`, withdraws the stock uploaded before; without it, adds to it', async () => {
    const target = await registerRawDevice(t.url, bank, 'kp-rotating', { keyPackages: 3 });
    const agent = await registerRawDevice(t.url, bank, 'kp-agent-2', { kind: 'agent' });
    const added = await freshKeyPackages(target, 2);
    const plain = await api(t.url, 'POST', '/v1/key-packages', { keyPackages: added }, target.token);
    expect(plain.body).toMatchObject({ oneTime: 5, lastResort: true });

    const replacement = await freshKeyPackages(target, 2, 3600);
    const [lastResort] = await freshKeyPackages(target, 1, 3600);
    const rotated = await api(t.url, 'POST', '/v1/key-packages', { keyPackages: replacement, lastResortKeyPackage: lastResort, replace: true }, target.token);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ oneTime: 2, lastResort: true, low: false });
    expect(await rowsOf(target.deviceId)).toBe(3);
    // Only the replacement is left: its lifetime (one hour) is the stock's oldest.
    expect(Date.parse(rotated.body.oldestNotAfter)).toBeLessThan(Date.now() + 3_700_000);

    const claimed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, agent.token);
      expect(res.status).toBe(200);
      claimed.push(res.body.keyPackages[0].keyPackage);
    }
    expect(claimed.slice(0, 2).sort()).toEqual([...replacement].sort());
    expect(claimed[2]).toBe(lastResort);
  });
});

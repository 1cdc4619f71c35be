/**
 * The console's administration over real HTTP: businesses and an identity's devices as the
 * views show them, an admin revoking a device (the device API's revocation: its session is
 * refused `device_revoked`, the key log has the entry), the action recorded with the
 * operator's name, the console absent from the public API document, and `/console/` without
 * a built page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64 } from '@parley/core';
import { decodeKeyLogEntry } from '@parley/core/keylog';
import { ADMIN_TOKEN, api, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';
import { bootstrapAdmin, raw, type ConsoleClient } from './auth-client.js';

let t: TestServer;
let admin: ConsoleClient;
let bank: TestBusiness;
let phone: RawDevice;
let tablet: RawDevice;
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  t = await startTestServer();
  admin = await bootstrapAdmin(t.url, 'ada', PASSWORD);
  bank = await createBusiness(t.url);
  phone = await registerRawDevice(t.url, bank, 'customer-1');
  tablet = await registerRawDevice(t.url, bank, 'customer-1');
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

describe('console administration', () => {
  it('lists businesses with their enrollment keys', async () => {
    const retired = await api(t.url, 'POST', `/v1/admin/businesses/${bank.id}/disable`, undefined, ADMIN_TOKEN);
    expect(retired.status).toBeLessThan(300);
    const res = await admin.call('GET', 'businesses');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const listed = (res.body.businesses as { id: string }[]).find((b) => b.id === bank.id);
    expect(listed).toEqual({ id: bank.id, name: 'Test Bank', status: 'disabled', keys: [{ kid: 'k1', createdAt: expect.any(String), revokedAt: null }] });
    expect((await api(t.url, 'POST', `/v1/admin/businesses/${bank.id}/enable`, undefined, ADMIN_TOKEN)).status).toBeLessThan(300);
  });

  it("lists an identity's devices; an unknown identity is 404", async () => {
    const res = await admin.call('GET', `identities/${encodeURIComponent(phone.identityId)}/devices`);
    expect(res.status).toBe(200);
    expect(res.body.identityId).toBe(phone.identityId);
    expect(res.body.devices.map((d: { id: string }) => d.id).sort()).toEqual([phone.deviceId, tablet.deviceId].sort());
    expect(res.body.devices[0]).toMatchObject({ status: 'active', suite: expect.any(String), createdAt: expect.any(String), revokedAt: null });
    const unknown = await admin.call('GET', `identities/${encodeURIComponent(`${bank.id}:nobody`)}/devices`);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_identity']);
  });

  it('revokes a device as the device API does: its session is refused, the key log has the revocation', async () => {
    expect((await api(t.url, 'GET', '/v1/mailbox', undefined, tablet.token)).status).toBe(200);
    const res = await admin.call('POST', `devices/${tablet.deviceId}/revoke`);
    expect(res.status).toBe(200);
    expect(res.body.device).toEqual({ id: tablet.deviceId, status: 'revoked' });

    const refused = await api(t.url, 'GET', '/v1/mailbox', undefined, tablet.token);
    expect([refused.status, refused.body.error.code]).toEqual([401, 'device_revoked']);
    expect((await api(t.url, 'GET', '/v1/mailbox', undefined, phone.token)).status).toBe(200);

    const lookup = await api(t.url, 'GET', `/v1/keys/${encodeURIComponent(tablet.identityId)}`, undefined, ADMIN_TOKEN);
    expect(lookup.status).toBe(200);
    const entries = (lookup.body.entries as { entry: string }[]).map((e) => decodeKeyLogEntry(fromBase64(e.entry)));
    expect(entries.filter((e) => e.type === 'device-revoked')).toEqual([expect.objectContaining({ type: 'device-revoked', deviceId: tablet.deviceId, by: 'business' })]);

    const devices = await admin.call('GET', `identities/${encodeURIComponent(tablet.identityId)}/devices`);
    expect(devices.body.devices.find((d: { id: string }) => d.id === tablet.deviceId)).toMatchObject({ status: 'revoked', revokedAt: expect.any(String) });

    const again = await admin.call('POST', `devices/${tablet.deviceId}/revoke`);
    expect([again.status, again.body.code]).toEqual([409, 'already_revoked']);
    const unknown = await admin.call('POST', 'devices/dev_AAAAAAAAAAAAAAAAAAAAAA/revoke');
    expect([unknown.status, unknown.body.code]).toEqual([404, 'unknown_device']);
  });

  it('records the revocation with the operator who did it', async () => {
    const res = await admin.call('GET', 'actions?limit=10');
    expect(res.status).toBe(200);
    const revoked = (res.body.actions as { operator: { name: string }; action: string; target: string; at: string }[]).filter((a) => a.action === 'device.revoke');
    expect(revoked).toEqual([{ at: expect.any(String), operator: { id: expect.stringMatching(/^op_/), name: 'ada' }, action: 'device.revoke', target: `device:${tablet.deviceId}` }]);
    expect(res.body.actions[0].action).toBe('device.revoke');
    const line = t.logs.find((l) => l.includes('"console action"') && l.includes('"device.revoke"'));
    expect(JSON.parse(line!).console).toEqual({ operator: 'ada', operatorId: expect.stringMatching(/^op_/), action: 'device.revoke', target: `device:${tablet.deviceId}` });
    expect(t.logs.filter((l) => l.includes(PASSWORD))).toEqual([]);
  });

  it('keeps the console out of the public API document', async () => {
    const doc = (await api(t.url, 'GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/console'))).toEqual([]);
    expect(Object.keys(doc.paths)).toContain('/v1/devices/{deviceId}/revoke');
  });

  it('answers /console/ with 404 console_not_built when no page is configured', async () => {
    for (const path of ['/console/', '/console', '/console/app.js']) {
      const res = await raw(t.url, path);
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'console_not_built']);
    }
    const api404 = await raw(t.url, '/console/api/no-such-view');
    expect([api404.status, api404.body.code]).toEqual([404, 'not_found']);
  });
});

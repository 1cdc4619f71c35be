import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { createBusiness, enroll, enrollApproved } from '@parley/test-kit/sdk';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.stop());

async function run(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await main(args), out };
  } finally {
    spy.mockRestore();
  }
}

describe('parley keys lookup', () => {
  it('verifies and lists an identity’s devices with their log status', async () => {
    const bank = await createBusiness(t.url, 'cli-bank');
    const phone = await enroll(t.url, bank, 'c-7', 'customer');
    const tablet = await enrollApproved(t.url, bank, 'c-7', phone);
    await phone.keys.revokeDevice(tablet.deviceId);
    const { index: rotatedAt } = await phone.keys.rotate();
    const { code, out } = await run(['keys', 'lookup', 'cli-bank:c-7', '--url', t.url, '--admin-token', ADMIN_TOKEN, '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(out);
    expect(result.devices.map((d: { deviceId: string; status: string }) => [d.deviceId, d.status])).toEqual([
      [phone.deviceId, 'approved'],
      [tablet.deviceId, 'revoked'],
    ]);
    expect(result.devices[0].rotatedAt).toEqual([rotatedAt]);
    const text = await run(['keys', 'lookup', 'cli-bank:c-7', '--url', t.url, '--admin-token', ADMIN_TOKEN]);
    expect(text.out).toContain('VRF proof');
    expect(text.out).toContain('revoked (owner)');
    expect(text.out).toContain(`keys rotated at log #${rotatedAt} (signed by the previous key)`);
    const wrong = await run(['keys', 'lookup', 'cli-bank:c-7', '--url', t.url, '--admin-token', 'nope']);
    expect(wrong.code).toBe(1);
  });
});

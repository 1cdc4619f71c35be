/**
 * Session tokens (http/sessions.ts): a token that passed the full check is remembered, and a
 * remembered token still expires on time, while a forged or altered one never matches.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from '@parley/core';
import { SessionIssuer } from '../src/http/sessions.js';

const device = { deviceId: 'dev-session-test-0001', identityId: 'b:carol', businessId: 'b' };

afterEach(() => vi.useRealTimers());

describe('SessionIssuer', () => {
  it('answers a repeated token from its check, and expires it on time', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-07T08:00:00.000Z'), toFake: ['Date'] });
    const issuer = new SessionIssuer(randomBytes(32), 60);
    const { token, expiresAt } = await issuer.issue(device);
    const first = await issuer.verify(token);
    expect(first).toEqual({ ...device, expiresAt });
    expect(await issuer.verify(token)).toEqual(first);
    vi.setSystemTime(new Date(expiresAt.getTime() - 1000));
    expect((await issuer.verify(token)).deviceId).toBe(device.deviceId);
    vi.setSystemTime(expiresAt);
    await expect(issuer.verify(token)).rejects.toMatchObject({ code: 'session_expired', status: 401 });
    await expect(issuer.verify(token)).rejects.toMatchObject({ code: 'session_expired' });
  });

  it('refuses an altered token even after the original was checked, and a token of another secret', async () => {
    const issuer = new SessionIssuer(randomBytes(32), 600);
    const { token } = await issuer.issue(device);
    await issuer.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const flipped = signature.slice(0, -2) + (signature.endsWith('A') ? 'BA' : 'AA');
    await expect(issuer.verify(`${header}.${payload}.${flipped}`)).rejects.toMatchObject({ code: 'session_invalid' });
    const other = await new SessionIssuer(randomBytes(32), 600).issue(device);
    await expect(issuer.verify(other.token)).rejects.toMatchObject({ code: 'session_invalid' });
    await expect(issuer.verify('not-a-token')).rejects.toMatchObject({ code: 'session_invalid' });
  });

  it('keeps at most its bound of remembered tokens and still answers the evicted ones by checking them', async () => {
    const issuer = new SessionIssuer(randomBytes(32), 600);
    const first = await issuer.issue(device);
    await issuer.verify(first.token);
    for (let i = 0; i < 10_001; i++) await issuer.verify((await issuer.issue({ ...device, deviceId: `dev-session-${String(i).padStart(9, '0')}` })).token);
    expect((issuer as unknown as { verified: Map<string, unknown> }).verified.size).toBe(10_000);
    expect((await issuer.verify(first.token)).deviceId).toBe(device.deviceId);
  });
});

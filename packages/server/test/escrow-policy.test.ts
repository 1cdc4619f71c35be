/**
 * Escrow in the routing policy (routing/policy.ts): `escrow: { key, approvals }` is checked
 * like every other policy field, at start, with `invalid_routing_policy` naming the problem.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '@parley/core';
import { validatePolicy } from '../src/routing/policy.js';

const base = { chain: [{ step: 'app', timeoutMs: 30_000 }], otherwise: 'invite-to-app' };
const key = `esk_${toBase64Url(randomBytes(32))}`;

describe('routing policy: escrow', () => {
  it('accepts a key id and 2 … 16 approvals, and keeps them', () => {
    expect(validatePolicy('bank.statement', { ...base, escrow: { key, approvals: 2 } }).escrow).toEqual({ key, approvals: 2 });
    expect(validatePolicy('bank.alert', base).escrow).toBeUndefined();
  });

  it.each([
    ['not an object', 'yes'],
    ['a key that is not an escrow key id', { key: 'k1', approvals: 2 }],
    ['one approval', { key, approvals: 1 }],
    ['17 approvals', { key, approvals: 17 }],
    ['a fractional threshold', { key, approvals: 2.5 }],
    ['an unknown field', { key, approvals: 2, officers: [] }],
  ])('refuses %s', (_what, escrow) => {
    expect(() => validatePolicy('bank.statement', { ...base, escrow })).toThrow(expect.objectContaining({ code: 'invalid_routing_policy' }));
  });
});

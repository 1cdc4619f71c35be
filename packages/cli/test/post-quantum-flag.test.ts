import { describe, expect, it } from 'vitest';
import { parsePostQuantumFlags } from '../src/post-quantum-flag.js';

describe('parley gateway --pq', () => {
  it('reads a rule per class', () => {
    expect(parsePostQuantumFlags(['statement=required:invite-to-app', 'otp=preferred', 'chat=off', 'contract=required'])).toEqual({
      statement: { pq: 'required', otherwise: 'invite-to-app' },
      otp: { pq: 'preferred' },
      chat: { pq: 'off' },
      contract: { pq: 'required' },
    });
  });

  it('refuses anything else with a usage error', () => {
    for (const bad of ['statement', 'statement=maybe', 'Statement=required', 'otp=preferred:block', 'x=required:warn', '=required']) {
      expect(() => parsePostQuantumFlags([bad]), bad).toThrow(expect.objectContaining({ code: 'usage' }));
    }
  });
});

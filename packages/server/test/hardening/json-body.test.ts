/**
 * The JSON body guards (src/http/json-body.ts) agree with JSON.parse on every value:
 * nesting depth is measured exactly (brackets, quotes and backslashes inside strings
 * do not count), and a NUL is found exactly when a string holds one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, jsonHasNul, jsonTooDeep } from '../../src/http/json-body.js';
import { SEED } from './fuzz-inputs.js';

function depth(value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depth));
  if (value !== null && typeof value === 'object') return 1 + Math.max(0, ...Object.values(value).map(depth));
  return 0;
}

function hasNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(hasNul);
  if (value !== null && typeof value === 'object') return Object.entries(value).some(([k, v]) => k.includes('\u0000') || hasNul(v));
  return false;
}

/** Strings made of the characters that could fool a scanner. */
const tricky = fc
  .array(fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\u0000', '\\\\u0000', 'u0000', '\u0000', 'a', ':', ','), { maxLength: 12 })
  .map((parts) => parts.join(''));
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, tricky, fc.integer(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(tricky, tie('value'), { maxKeys: 3 }),
})).value;

/** `value` wrapped in `levels` arrays or objects. */
function nest(value: unknown, levels: number, kind: 'array' | 'object'): unknown {
  let out = value;
  for (let i = 0; i < levels; i++) out = kind === 'array' ? [out] : { '[{"': out };
  return out;
}

describe('JSON body guards', () => {
  it('measure nesting exactly and find NUL exactly, whatever the strings hold', () => {
    fc.assert(
      fc.property(json, fc.nat({ max: 2 * MAX_JSON_DEPTH }), fc.constantFrom('array' as const, 'object' as const), (inner, levels, kind) => {
        const value = nest(inner, levels, kind);
        const text = JSON.stringify(value);
        expect(jsonTooDeep(text)).toBe(depth(value) > MAX_JSON_DEPTH);
        expect(jsonHasNul(text)).toBe(hasNul(value));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('scans a large string in one pass', () => {
    const text = JSON.stringify({ message: `${'['.repeat(1_000_000)}\\"`, members: [['x']] });
    const started = performance.now();
    expect(jsonTooDeep(text)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

/** The CLI's flag parsing: strict, and an id that begins with a dash is still a value. */
import { describe, expect, it } from 'vitest';
import { levels } from 'pino';
import { LOG_LEVELS, parseFlags, parseLogLevel } from '../src/args.js';
import { UsageError } from '../src/errors.js';

const options = { message: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean', default: false } } as const;

describe('parseFlags', () => {
  it('takes a value beginning with a dash (base64url ids do, one in 64)', () => {
    expect(parseFlags(['--message', '-Jq3n0xW8Xb1hH2mQpL9aA', '--json'], options)).toEqual({ message: '-Jq3n0xW8Xb1hH2mQpL9aA', json: true });
    expect(parseFlags(['--message', '--Jq3n0xW8Xb1hH2mQpL9a'], options).message).toBe('--Jq3n0xW8Xb1hH2mQpL9a');
    expect(parseFlags(['--message=-abc'], options).message).toBe('-abc');
  });

  it('still refuses a flag where a value should be, unknown flags and missing values', () => {
    expect(() => parseFlags(['--message', '--out', 'f'], options)).toThrow(UsageError);
    expect(() => parseFlags(['--message', '--json'], options)).toThrow(UsageError);
    expect(() => parseFlags(['--nope', 'x'], options)).toThrow(UsageError);
    expect(() => parseFlags(['--message'], options)).toThrow(UsageError);
  });
});

describe('log levels', () => {
  it("are pino's, most verbose first, and silent", () => {
    const pino = Object.entries(levels.values).sort((a, b) => a[1] - b[1]).map(([name]) => name);
    expect([...LOG_LEVELS]).toEqual([...pino, 'silent']);
  });

  it('accept each name and refuse anything else with the list', () => {
    for (const level of LOG_LEVELS) expect(parseLogLevel(level, '--log-level')).toBe(level);
    expect(() => parseLogLevel('verbose', '--log-level')).toThrow(UsageError);
    expect(() => parseLogLevel('verbose', '--log-level')).toThrow(/trace, debug, info, warn, error, fatal, silent/);
  });
});

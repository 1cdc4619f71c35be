/**
 * The error-code union (src/error-codes.ts) against the source: every code the server's
 * code raises appears in it, and every code it lists for the server is raised somewhere
 * (the `core` group excepted: those codes come from @parley/core). A source scan, so a
 * new code cannot ship without being named in the union.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_ERROR_CODES, SERVER_ERROR_CODE_GROUPS, isServerErrorCode } from '../src/index.js';

const SRC = new URL('../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Where the source names an error code: ParleyError constructors, `code:` fields, the code helpers, status tuples. */
const PATTERNS = [
  /new (?:ParleyError|UnauthorizedError|ForbiddenError|NotFoundError|ConflictError|CryptoError)\(\s*'([a-z0-9_]+)'/g,
  /\bcode: '([a-z0-9_]+)'/g,
  /\b(?:gone|refuse|keyError)\(\s*'([a-z0-9_]+)'/g,
  /\b(?:invalid|expired): '([a-z0-9_]+)'/g,
  /\[\d{3}, '([a-z0-9_]+)',/g,
  /\bServerErrorCode = '([a-z0-9_]+)'/g,
  /\breadOrCreateSecretFile\(.*'([a-z0-9_]+)'\);$/gm,
];

/** Code → files that raise it. */
function raisedCodes(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (code: string, file: string) => out.set(code, [...(out.get(code) ?? []), file]);
  for (const path of sources(SRC)) {
    if (path.endsWith('error-codes.ts')) continue;
    const file = relative(SRC, path);
    const text = readFileSync(path, 'utf8');
    // Provider adapters raise ChannelErrors (reasons, not codes); only a ParleyError there would be a code.
    const patterns = file.startsWith('channels/') ? PATTERNS.slice(0, 1) : PATTERNS;
    for (const pattern of patterns) for (const m of text.matchAll(pattern)) add(m[1]!, file);
    if (/new RateLimitedError\(/.test(text)) add('rate_limited', file);
  }
  return out;
}

describe('server error codes', () => {
  const raised = raisedCodes();

  it('finds the codes (the scan works)', () => {
    expect(raised.size).toBeGreaterThan(80);
    expect(raised.get('epoch_conflict')).toContain('relay/commits.ts');
    expect(raised.get('business_token_invalid')).toContain('http/business-tokens.ts');
  });

  it('names every code raised in src in the union', () => {
    const missing = [...raised.entries()].filter(([code]) => !isServerErrorCode(code)).map(([code, files]) => `${code} (${files.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('lists no server code that nothing raises, and each code once', () => {
    const { core, ...server } = SERVER_ERROR_CODE_GROUPS;
    const listed: string[] = Object.values(server).flat();
    expect(listed.filter((code) => !raised.has(code))).toEqual([]);
    const all: string[] = [...listed, ...core];
    expect(all.length).toBe(SERVER_ERROR_CODES.size);
    expect(core.filter((code) => raised.has(code))).toEqual([]);
  });

  it('accepts the mapper’s http_<status> codes and nothing else', () => {
    expect(isServerErrorCode('http_405')).toBe(true);
    expect(isServerErrorCode('epoch_conflict')).toBe(true);
    expect(isServerErrorCode('no_such_code')).toBe(false);
    expect(isServerErrorCode(404)).toBe(false);
  });
});

/**
 * CORE_ERROR_CODES is exactly the set of codes core's source throws: every code literal
 * handed to an error constructor (or to the internal helpers that build one) is listed, and
 * every listed code is thrown somewhere. Core's error classes take the code as a string, so
 * this scan is what keeps the list honest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CORE_ERROR_CODES, CryptoError, InvalidInputError, RateLimitedError, isCoreErrorCode, isParleyError } from '../src/index.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [join(dir, e.name)] : [],
  );
}

/** Where a code literal reaches an error: constructors, `{ code: … }` options, helpers taking a code, comparisons. */
const PATTERNS = [
  /new (?:Parley|Crypto|Unauthorized|Forbidden|NotFound|Conflict)Error\(\s*'([a-z0-9_]+)'/g,
  /super\(\s*'([a-z0-9_]+)'/g,
  /\bcode \?\? '([a-z0-9_]+)'/g,
  /\bcode: '([a-z0-9_]+)'/g,
  /\b(?:mapMlsError\([^,]+|decodeMessage\([^,]+), '([a-z0-9_]+)'/g,
  /\berror\.code === '([a-z0-9_]+)'/g,
];
// The evidence verifier's report lines carry `code: EvidenceFailureCode` (its own union), not error codes.
const REPORT_FILES = /^audit\/(?:verify-bundle\.ts|bundle-checks\/)/;

function thrownCodes(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const name = relative(SRC, file).split('\\').join('/');
    // Code only: doc examples may name codes of other packages.
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const pattern of PATTERNS) {
      if (REPORT_FILES.test(name) && pattern.source.startsWith('\\bcode: ')) continue;
      for (const match of text.matchAll(pattern)) found.set(match[1]!, [...(found.get(match[1]!) ?? []), name]);
    }
  }
  return found;
}

describe('core error codes', () => {
  const found = thrownCodes();

  it('lists every code the source throws', () => {
    const unlisted = [...found.keys()].filter((code) => !isCoreErrorCode(code)).map((code) => `${code} (${found.get(code)!.join(', ')})`);
    expect(unlisted).toEqual([]);
  });

  it('lists only codes the source throws', () => {
    expect(Object.keys(CORE_ERROR_CODES).filter((code) => !found.has(code))).toEqual([]);
  });

  it('keeps the published codes', () => {
    // Codes clients already match on; removing or renaming one is a breaking change.
    for (const code of ['invalid_request', 'invalid_encoding', 'invalid_key_package', 'invalid_mls_message', 'mls_epoch_too_old', 'key_log_inconsistent', 'tlog_bad_tile', 'tlog_note_unverified', 'vrf_invalid_proof']) {
      expect(isCoreErrorCode(code), code).toBe(true);
    }
  });

  it('narrows a thrown error to a core code', () => {
    const errors: unknown[] = [new InvalidInputError('x'), new CryptoError('mls_wrong_group', 'x'), new RateLimitedError('x', 5)];
    const codes = errors.flatMap((e) => (isParleyError(e) && isCoreErrorCode(e.code) ? [e.code] : []));
    expect(codes).toEqual(['invalid_request', 'mls_wrong_group', 'rate_limited']);
    expect(isCoreErrorCode('no_such_code')).toBe(false);
    expect(isCoreErrorCode('toString')).toBe(false);
  });
});

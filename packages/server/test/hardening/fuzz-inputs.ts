/**
 * Bad input for the fuzz test: the classes of values that broke servers before
 * (type confusion, 64-bit edges, NUL and lone surrogates, bad base64, huge and
 * deeply nested values), fast-check samples drawn with a fixed seed, and the
 * one-field-at-a-time mutations of a valid JSON body that reach deep code.
 */
import fc from 'fast-check';

/** Every random draw of the fuzz test derives from this seed (change it to explore; failures name their input). */
export const SEED = 0x5eed_2024;

/** Raw JSON text spliced into a body verbatim: numbers JSON.stringify cannot write (1e309, 2^64 exactly). */
export class RawJson {
  constructor(readonly text: string) {}
}

export interface BadValue {
  /** Short description for failure messages (never the whole value). */
  readonly what: string;
  readonly value: unknown;
}

const bad = (what: string, value: unknown): BadValue => ({ what, value });

/** Decimal strings around the 64-bit edges, as ids, epochs, cursors and limits are written. */
export const NUMERIC_STRINGS: readonly string[] = [
  '-1',
  '0',
  '00',
  '9007199254740993',
  '9223372036854775807',
  '9223372036854775808',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999',
  '1e309',
  '0x10',
  ' 1',
  'NaN',
];

/** The same edges as JSON numbers (raw text: JSON.stringify would round or write null). */
export const RAW_NUMBERS: readonly BadValue[] = [
  bad('number -1', -1),
  bad('number 1.5', 1.5),
  bad('number 2^53+1', new RawJson('9007199254740993')),
  bad('number 2^63', new RawJson('9223372036854775808')),
  bad('number 2^64', new RawJson('18446744073709551616')),
  bad('number -2^63-1', new RawJson('-9223372036854775809')),
  bad('number 1e309', new RawJson('1e309')),
  bad('number -1e309', new RawJson('-1e309')),
  bad('number -0', new RawJson('-0')),
];

/** Type confusion: every JSON type where another is expected. */
export const WRONG_TYPES: readonly BadValue[] = [
  bad('null', null),
  bad('true', true),
  bad('number 0', 0),
  bad('empty array', []),
  bad('empty object', {}),
  bad('array of null', [null]),
  bad('object {a:1}', { a: 1 }),
];

/** Strings that databases, decoders and regexes choke on. */
export const BAD_STRINGS: readonly BadValue[] = [
  bad('empty string', ''),
  bad('NUL character', 'a\u0000b'),
  bad('lone surrogate', 'x\ud800y'),
  bad('RTL override + emoji', '\u202e\u{1F600}'),
  bad('CR LF', 'a\r\nb'),
  bad('path traversal', '../../../etc/passwd'),
  bad('SQL quote', "' OR 1=1 --"),
  bad('percent NUL', '%00'),
  bad('bad base64 "!!!!"', '!!!!'),
  bad('bad base64 "a"', 'a'),
  bad('bad base64 "abc=d"', 'abc=d'),
  bad('bad base64 "===="', '===='),
  bad('base64 of 3 zero bytes', 'AAAA'),
  bad('100 000 characters', 'A'.repeat(100_000)),
  ...NUMERIC_STRINGS.map((s) => bad(`string "${s}"`, s)),
];

/** One sample list per (label, arbitrary), reproducible from SEED. */
export function sample<T>(label: string, arbitrary: fc.Arbitrary<T>, count: number): T[] {
  return fc.sample(arbitrary, { seed: SEED ^ hash(label), numRuns: count });
}

export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Generated values for one field: its pattern's strings (valid shape, unknown thing) and random JSON. */
export function generated(label: string, pattern: string | undefined, count: number): BadValue[] {
  const out: BadValue[] = [];
  if (pattern) {
    for (const s of sample(`${label}/pattern`, fc.stringMatching(new RegExp(pattern)), count)) out.push(bad(`pattern-shaped ${JSON.stringify(s.slice(0, 40))}`, s));
  }
  const random = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.jsonValue({ maxDepth: 3 }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => n.toString()),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('base64')),
  );
  for (const v of sample(`${label}/random`, random, count)) out.push(bad(`random ${JSON.stringify(v)?.slice(0, 40) ?? 'value'}`, v));
  return out;
}

/** Every bad value for one field (pattern: the field's schema pattern, if any). */
export function badValuesFor(label: string, pattern: string | undefined, generatedCount = 2): BadValue[] {
  return [...WRONG_TYPES, ...RAW_NUMBERS, ...BAD_STRINGS, ...generated(label, pattern, generatedCount)];
}

// --- JSON bodies ----------------------------------------------------------------------------

export type Path = readonly (string | number)[];

export function pathText(path: Path): string {
  return path.length === 0 ? '(body)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1);
}

/** JSON text of a body that may hold RawJson values. */
export function serialize(body: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(body, (_key, value: unknown) => {
    if (value instanceof RawJson) {
      raws.push(value.text);
      return `\u0000raw${raws.length - 1}\u0000`;
    }
    return value;
  });
  return text.replace(/"\\u0000raw(\d+)\\u0000"/g, (_m, i: string) => raws[Number(i)]!);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** `body` with the value at `path` replaced (or removed when `value` is `REMOVE`). */
export const REMOVE = Symbol('remove');
export function setAt(body: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = clone(body) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === REMOVE) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else {
    node[last] = value;
  }
  return copy;
}

/** Every path inside a JSON value (objects and arrays included; the first element of each array). */
export function paths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(value)) {
    if (value.length > 0) out.push([...prefix, 0], ...paths(value[0], [...prefix, 0]));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...paths(v, [...prefix, k]));
  }
  return out;
}

/** Nesting `depth` levels deep: `[[[...]]]` or `{"a":{"a":...}}`, as text (too deep for JSON.stringify). */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

export interface Mutation {
  readonly what: string;
  /** The mutated field (undefined: the whole body). */
  readonly path?: Path;
  /** The mutated body (may hold RawJson), or its wire bytes when JSON cannot express it. */
  readonly body: { readonly value: unknown } | { readonly raw: string | Buffer };
}

/**
 * One-field-at-a-time mutations of a valid body: each field (and each optional field the
 * schema allows but the body lacks) set to every bad value, removed, or given an extra
 * sibling; arrays emptied, doubled and overfilled; the whole body replaced by other types.
 */
export function mutations(
  label: string,
  valid: unknown,
  fieldPattern: (path: Path) => string | undefined,
  extraFields: readonly Path[] = [],
): Mutation[] {
  const out: Mutation[] = [];
  const seen = new Set<string>();
  const add = (what: string, path: Path | undefined, value: unknown) => {
    const text = serialize(value);
    if (seen.has(text)) return;
    seen.add(text);
    out.push({ what, ...(path ? { path } : {}), body: { value } });
  };
  for (const path of [...paths(valid), ...extraFields]) {
    const where = pathText(path);
    for (const v of badValuesFor(`${label} ${where}`, fieldPattern(path))) add(`${where} := ${v.what}`, path, setAt(valid, path, v.value));
    add(`${where} removed`, path, setAt(valid, path, REMOVE));
    add(`${where} := 10 000-level nested array`, path, setAt(valid, path, deepArray(10_000)));
    const current = getAt(valid, path);
    if (Array.isArray(current) && current.length > 0) {
      add(`${where} := [first, first]`, path, setAt(valid, path, [current[0], current[0]]));
      add(`${where} := 1001 copies`, path, setAt(valid, path, Array.from({ length: 1001 }, () => current[0])));
    }
    if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
      add(`${where} + extra property`, path, setAt(valid, path, { ...current, zzExtra: 1 }));
      add(`${where} + extra property with NUL`, path, setAt(valid, path, { ...current, zzExtra: 'a\u0000b', 'z\u0000': 1 }));
      add(`${where} + extra property nested 10 000 levels`, path, setAt(valid, path, { ...current, zzExtra: deepArray(10_000) }));
    }
    if (typeof current === 'string' && current.length > 0) {
      add(`${where} := same string ×2`, path, setAt(valid, path, current + current));
      add(`${where} := missing last character`, path, setAt(valid, path, current.slice(0, -1)));
      add(`${where} := one character flipped`, path, setAt(valid, path, flipChar(current, hash(`${label}${where}`) % current.length)));
    }
  }
  if (valid !== null && typeof valid === 'object' && !Array.isArray(valid)) add('extra top-level property', undefined, { ...valid, zzExtra: true });
  for (const v of [...WRONG_TYPES, bad('string', 'x'), bad('number 2^64', new RawJson('18446744073709551616'))]) add(`whole body := ${v.what}`, [], v.value);
  const text = serialize(valid);
  out.push({ what: 'body with invalid UTF-8 bytes in a string', body: { raw: withInvalidUtf8(text) } });
  out.push({ what: '__proto__ key', body: { raw: text.replace(/^\{/, '{"__proto__":{"polluted":true},') } });
  out.push({ what: 'constructor.prototype key', body: { raw: text.replace(/^\{/, '{"constructor":{"prototype":{"polluted":true}},') } });
  return out;
}

export function getAt(value: unknown, path: Path): unknown {
  let node = value;
  for (const key of path) node = (node as Record<string | number, unknown> | undefined)?.[key];
  return node;
}

function deepArray(depth: number): RawJson {
  return new RawJson(deepJson(depth, 'array'));
}

function flipChar(text: string, at: number): string {
  const c = text[at]!;
  const flipped = c === 'A' ? 'B' : c === 'a' ? 'b' : c === '0' ? '1' : 'A';
  return text.slice(0, at) + flipped + text.slice(at + 1);
}

/** The JSON text with bytes that are not UTF-8 (0xC0 0xAF overlong '/', 0xFF) inside the first string. */
export function withInvalidUtf8(text: string): Buffer {
  const at = text.indexOf('"', text.indexOf(':')) + 1;
  const bytes = Buffer.from(text, 'utf8');
  const cut = Buffer.byteLength(text.slice(0, at), 'utf8');
  return Buffer.concat([bytes.subarray(0, cut), Buffer.from([0xc0, 0xaf, 0xff, 0xfe]), bytes.subarray(cut)]);
}

/** Bad values for URL path and query parameters (already percent-encoded where that is the point). */
export const BAD_URL_VALUES: readonly { what: string; text: string }[] = [
  { what: 'empty', text: '' },
  ...NUMERIC_STRINGS.map((s) => ({ what: `"${s}"`, text: encodeURIComponent(s) })),
  { what: '-9223372036854775809', text: '-9223372036854775809' },
  { what: '20-digit decimal', text: '12345678901234567890' },
  { what: 'percent-encoded NUL', text: 'a%00b' },
  { what: 'invalid percent escape', text: '%zz' },
  { what: 'lone percent', text: '%' },
  { what: 'overlong UTF-8 slash', text: '%C0%AF' },
  { what: 'invalid UTF-8 byte', text: '%FF%FE' },
  { what: 'encoded path traversal', text: '..%2F..%2Fetc%2Fpasswd' },
  { what: 'emoji', text: '%F0%9F%98%80' },
  { what: '5000 characters', text: 'a'.repeat(5000) },
  { what: 'encoded lone surrogate (CESU)', text: '%ED%A0%80' },
];

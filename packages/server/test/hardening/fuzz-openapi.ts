/**
 * Walks the server's own /openapi.json: for every operation, requests built from its
 * parameter and body schemas around a valid request — bad path and query values,
 * body mutations (one field at a time), broken JSON, huge and deeply nested bodies,
 * wrong content types and bad credentials.
 */
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import type { FuzzRequest } from './fuzz-http.js';
import { BAD_URL_VALUES, deepJson, generated, getAt, mutations, pathText, serialize, setAt, type Path } from './fuzz-inputs.js';
import type { ValidRequest } from './fuzz-valid.js';

export const BODY_LIMIT = 4 * 1024 * 1024;
/** Operations that also get a 16 MiB body (one with a session, one without: the cost is the upload). */
const SIXTEEN_MIB = new Set(['POST /v1/messages', 'POST /v1/devices']);

export interface JsonSchema {
  readonly type?: string;
  readonly pattern?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
}

interface Parameter {
  readonly in: 'path' | 'query' | 'header';
  readonly name: string;
  readonly required?: boolean;
  readonly schema?: JsonSchema;
}

export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, { parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }>>>>;
  readonly components?: { readonly schemas?: Readonly<Record<string, JsonSchema>> };
}

/** `schema` with every `$ref` to a named component replaced by the component (bodies are named components). */
function inline(doc: OpenApiDocument, schema: unknown, depth = 0): unknown {
  if (depth > 32 || typeof schema !== 'object' || schema === null) return schema;
  if (Array.isArray(schema)) return schema.map((s) => inline(doc, s, depth + 1));
  const ref = (schema as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/components/schemas/')) return inline(doc, doc.components?.schemas?.[ref.slice('#/components/schemas/'.length)], depth + 1);
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(doc, v, depth + 1)]));
}

export interface Operation {
  readonly method: string;
  /** The OpenAPI path template, e.g. `/v1/devices/{deviceId}`. */
  readonly template: string;
  readonly key: string;
  readonly parameters: readonly Parameter[];
  readonly body: JsonSchema | undefined;
}

export function operations(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const m = method.toUpperCase();
      const body = inline(doc, op.requestBody?.content?.['application/json']?.schema) as JsonSchema | undefined;
      out.push({ method: m, template, key: `${m} ${template}`, parameters: op.parameters ?? [], body });
    }
  }
  return out;
}

/** The schema of the value at `path` inside a body schema. */
export function schemaAt(schema: JsonSchema | undefined, path: Path): JsonSchema | undefined {
  let node = schema;
  for (const key of path) node = typeof key === 'number' ? node?.items : node?.properties?.[key];
  return node;
}

/** Optional fields the schema allows that the valid body lacks (objects only, not inside arrays). */
function missingFields(schema: JsonSchema | undefined, body: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [];
  for (const [name, sub] of Object.entries(schema?.properties ?? {})) {
    const path = [...prefix, name];
    const value = getAt(body, path);
    if (value === undefined) out.push(path);
    else if (sub.type === 'object') out.push(...missingFields(sub, body, path));
  }
  return out;
}

export interface Parts {
  params?: Readonly<Record<string, string>>;
  /** Raw query text (without `?`), or the query object of the valid request. */
  query?: string;
  body?: string | Buffer;
  headers?: Readonly<Record<string, string>>;
  /** Authorization header value; null for none. */
  authorization?: string | null;
}

function queryText(query: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

/** The wire request for an operation: the valid request with `parts` replaced. */
export function requestOf(op: Operation, valid: ValidRequest, what: string, parts: Parts = {}): FuzzRequest {
  const params = { ...valid.params, ...parts.params };
  const path = op.template.replace(/\{(\w+)\}/g, (_m, name: string) => (parts.params?.[name] !== undefined ? params[name]! : encodeURIComponent(params[name] ?? '')));
  const query = parts.query ?? queryText(valid.query);
  const body = 'body' in parts ? parts.body : valid.body === undefined ? undefined : serialize(valid.body);
  const authorization = parts.authorization === undefined ? (valid.auth ? `Bearer ${valid.auth}` : undefined) : parts.authorization;
  return {
    method: op.method,
    path: query ? `${path}?${query}` : path,
    what,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(authorization ? { authorization } : {}),
      ...parts.headers,
    },
    ...(body !== undefined ? { body } : {}),
  };
}

/** Authorization headers that must all be refused cleanly. */
export function badAuthorizations(valid: string | undefined, others: { stranger: string; device: string }): { what: string; value: string | null }[] {
  const forged = `${Buffer.from('{"alg":"none","typ":"parley-session+jwt"}').toString('base64url')}.${Buffer.from('{"sub":"x","aud":"parley-session","idn":"a:b","bid":"a","exp":99999999999}').toString('base64url')}.`;
  const out: { what: string; value: string | null }[] = [
    { what: 'no Authorization', value: null },
    { what: 'Authorization "Bearer"', value: 'Bearer' },
    { what: 'Authorization "Bearer garbage"', value: 'Bearer garbage' },
    { what: 'Authorization Basic', value: 'Basic dXNlcjpwYXNz' },
    { what: 'Authorization Bearer + 8000 characters', value: `Bearer ${'a'.repeat(8000)}` },
    { what: 'Authorization with an unsigned (alg none) session JWT', value: `Bearer ${forged}` },
    { what: 'Authorization with a 3-segment garbage JWT', value: 'Bearer a.b.c' },
    { what: 'Authorization with an unsigned session JWT and a made-up signature', value: `Bearer ${forged.slice(0, -1)}.${'A'.repeat(43)}` },
    { what: "another tenant's device session", value: `Bearer ${others.stranger}` },
  ];
  if (valid) {
    out.push({ what: 'lower-case bearer scheme', value: `bearer ${valid}` });
    out.push({ what: 'session with its signature altered', value: `Bearer ${valid.slice(0, -4)}AAAA` });
    out.push({ what: 'session with a trailing garbage segment', value: `Bearer ${valid}.x` });
    out.push({ what: valid === ADMIN_TOKEN ? 'a device session instead of the admin token' : 'the admin token instead of a session', value: `Bearer ${valid === ADMIN_TOKEN ? others.device : ADMIN_TOKEN}` });
  }
  return out;
}

const MALFORMED_JSON: readonly { what: string; text: string }[] = [
  { what: 'unterminated object', text: '{' },
  { what: 'missing value', text: '{"a":}' },
  { what: 'trailing comma', text: '[1,]' },
  { what: 'bare word', text: 'nul' },
  { what: 'single quotes', text: "{'a':1}" },
  { what: 'garbage after JSON', text: '{}garbage' },
  { what: 'byte order mark', text: '\ufeff{}' },
  { what: 'escaped NUL key', text: '{"\\u0000":1}' },
  { what: 'escaped lone surrogate', text: '{"a":"\\ud800"}' },
  { what: 'JSON string', text: '"string"' },
  { what: 'number 1e309', text: '1e309' },
  { what: 'lone minus', text: '-' },
  { what: 'empty body', text: '' },
  { what: 'whitespace only', text: ' \n\t ' },
  { what: 'NUL byte', text: '\u0000' },
];

const CONTENT_TYPES: readonly string[] = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16le',
  'application/json;;;',
  'application/jsonx',
  'APPLICATION/JSON',
  'application/octet-stream',
  '*/*',
  '',
];

/** Every fuzz request for one operation (not the valid request itself). */
export function operationCases(op: Operation, valid: ValidRequest, others: { stranger: string; device: string }): FuzzRequest[] {
  const out: FuzzRequest[] = [];
  const label = op.key;

  for (const a of badAuthorizations(valid.auth, others)) out.push(requestOf(op, valid, a.what, { authorization: a.value }));

  for (const p of op.parameters) {
    const current = p.in === 'path' ? valid.params?.[p.name] : valid.query?.[p.name];
    // Mutations of the valid value: still (mostly) well-shaped, so they reach the handler.
    const near = (current ? nearValues(current) : []).map((v) => ({ what: v.what, text: encodeURIComponent(v.value) }));
    const shaped = generated(`${label} ${p.name}`, p.schema?.pattern, 4).flatMap((v) => (typeof v.value === 'string' ? [{ what: v.what, text: encodeURIComponent(v.value) }] : []));
    if (p.in === 'path') {
      const values = [...BAD_URL_VALUES, ...near, ...shaped];
      for (const v of values) out.push(requestOf(op, valid, `path ${p.name} := ${v.what}`, { params: { [p.name]: v.text } }));
    } else if (p.in === 'query') {
      const rest = Object.entries(valid.query ?? {})
        .filter(([k]) => k !== p.name)
        .map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
      const withValue = (text: string) => [...rest, `${p.name}=${text}`].join('&');
      for (const v of [...BAD_URL_VALUES, ...near, ...shaped]) out.push(requestOf(op, valid, `query ${p.name} := ${v.what}`, { query: withValue(v.text) }));
      out.push(requestOf(op, valid, `query ${p.name} removed`, { query: rest.join('&') }));
      out.push(requestOf(op, valid, `query ${p.name} given twice`, { query: `${withValue('1')}&${p.name}=2` }));
      out.push(requestOf(op, valid, `query ${p.name}[] array syntax`, { query: [...rest, `${p.name}[]=1`].join('&') }));
    }
  }
  if (op.parameters.some((p) => p.in === 'query') || op.method === 'GET') {
    out.push(requestOf(op, valid, 'unknown query parameter', { query: `${queryText(valid.query)}&zz=1` }));
    out.push(requestOf(op, valid, 'query __proto__', { query: `${queryText(valid.query)}&__proto__[x]=1` }));
    out.push(requestOf(op, valid, 'invalid percent escape in the query', { query: `${queryText(valid.query)}&%zz=%` }));
  }

  if (op.body !== undefined && valid.body !== undefined) {
    const patternOf = (path: Path) => schemaAt(op.body, path)?.pattern;
    for (const m of mutations(label, valid.body, patternOf, missingFields(op.body, valid.body))) {
      const body = 'raw' in m.body ? m.body.raw : serialize(valid.refresh ? valid.refresh(m.body.value, m.path) : m.body.value);
      out.push(requestOf(op, valid, m.what, { body }));
    }
    for (const [where, values] of Object.entries(valid.extra ?? {})) {
      const path = pathFromText(where);
      for (const v of values) out.push(requestOf(op, valid, `${where} := ${v.what}`, { body: serialize(setAt(valid.body, path, v.value)) }));
    }
    for (const v of valid.variants ?? []) out.push(requestOf(op, valid, v.what, { body: serialize(v.body) }));
    for (const j of MALFORMED_JSON) out.push(requestOf(op, valid, `malformed JSON: ${j.what}`, { body: j.text }));
    out.push(requestOf(op, valid, '10 000-level nested arrays', { body: deepJson(10_000, 'array') }));
    out.push(requestOf(op, valid, '10 000-level nested objects', { body: deepJson(10_000, 'object') }));
    out.push(requestOf(op, valid, '100 000-level nested arrays', { body: deepJson(100_000, 'array') }));
    out.push(requestOf(op, valid, '10 000-level nesting around a __proto__ key', { body: `${'['.repeat(10_000)}{"__proto__":{"x":1}}${']'.repeat(10_000)}` }));
    out.push(requestOf(op, valid, '10 000-level nesting around a constructor.prototype key', { body: `${'{"a":'.repeat(10_000)}{"constructor":{"prototype":{"x":1}}}${'}'.repeat(10_000)}` }));
    out.push(requestOf(op, valid, 'body of 4 MiB + 1 byte', { body: `"${'x'.repeat(BODY_LIMIT - 1)}"` }));
    if (SIXTEEN_MIB.has(op.key)) out.push(requestOf(op, valid, 'body of 16 MiB', { body: `"${'x'.repeat(4 * BODY_LIMIT)}"` }));
    out.push(requestOf(op, valid, 'body just under 4 MiB (a huge first field)', { body: justUnderLimit(valid.body) }));
    for (const type of CONTENT_TYPES) out.push(requestOf(op, valid, `content-type ${JSON.stringify(type)}`, { headers: { 'content-type': type } }));
    out.push(requestOf(op, valid, 'body in UTF-16LE', { body: Buffer.from(serialize(valid.body), 'utf16le') }));
  } else if (op.method !== 'GET' && op.method !== 'HEAD') {
    out.push(requestOf(op, valid, 'unexpected JSON body', { body: '{"zz":1}' }));
    out.push(requestOf(op, valid, 'unexpected malformed JSON body', { body: '{' }));
  }
  return out;
}

/** A valid value changed a little: one character more, one less, one flipped, another case, repeated. */
function nearValues(value: string): { what: string; value: string }[] {
  const flipped = value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A');
  return [
    { what: 'valid value + "A"', value: `${value}A` },
    { what: 'valid value + "0"', value: `${value}0` },
    { what: 'valid value without its last character', value: value.slice(0, -1) },
    { what: 'valid value with its last character changed', value: flipped },
    { what: 'valid value in upper case', value: value.toUpperCase() },
    { what: 'valid value twice', value: value + value },
  ];
}

function pathFromText(text: string): Path {
  return text.split(/\.|(?=\[)/).map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p));
}

/** The valid body with its first string field grown until the body is just under the limit. */
function justUnderLimit(body: unknown): string {
  const first = pathsOfStrings(body)[0] ?? [];
  const base = serialize(body).length;
  const current = String(getAt(body, first) ?? '');
  const room = BODY_LIMIT - 64 - base;
  return serialize(setAt(body, first, current + 'A'.repeat(Math.max(0, room))));
}

function pathsOfStrings(value: unknown, prefix: Path = []): Path[] {
  if (typeof value === 'string') return [prefix];
  if (Array.isArray(value)) return value.flatMap((v, i) => pathsOfStrings(v, [...prefix, i]));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => pathsOfStrings(v, [...prefix, k]));
  return [];
}

export { pathText };

/**
 * The served /openapi.json is fit for a code generator: valid OpenAPI 3.1 with every `$ref`
 * resolving, every registered API route described with a unique camelCase operationId,
 * request and response bodies as named components, the security each operation declares
 * matching what the server enforces (checked with real requests: none, the admin token, a
 * device session), every error answer an ErrorBody whose `code` lists every server code,
 * and the relay message's `maxLength` the real limit (checked at the boundary).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CORE_ERROR_CODES, LIMITS, randomBytes, toBase64, toBase64Url } from '@parley/core';
import { ADMIN_TOKEN, api, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestServer } from '@parley/test-kit/server';
import { describedRoutes, resolvePointer, validateOpenApi, type DescribedOperation } from '@parley/test-kit/openapi';
import { SERVER_ERROR_CODES } from '../src/index.js';
import { routesOf } from '../src/http/openapi.js';

let t: TestServer;
/** The served document, read field by field. */
let doc: any;
let ops: DescribedOperation[];
let device: RawDevice;

beforeAll(async () => {
  t = await startTestServer();
  doc = (await api(t.url, 'GET', '/openapi.json')).body;
  ops = describedRoutes(doc);
  device = await registerRawDevice(t.url, await createBusiness(t.url), 'openapi-customer');
}, 60_000);
afterAll(async () => {
  await t?.stop();
});

const ERROR_BODY = '#/components/schemas/ErrorBody';
/** The codes that say "these credentials are not accepted here". */
const REFUSED = new Set(['session_required', 'session_invalid', 'session_expired', 'admin_token_invalid', 'admin_disabled']);

function jsonSchemaOf(part: unknown): { $ref?: string } | undefined {
  return (part as { content?: Record<string, { schema?: { $ref?: string } }> } | undefined)?.content?.['application/json']?.schema;
}

/** A request to `op` with placeholder path parameters, an empty JSON body when it takes one, and `token`. */
async function call(op: DescribedOperation, token: string | undefined): Promise<{ status: number; code: string | undefined }> {
  const path = op.path.replace(/\{[^}]+\}/g, 'zzzz');
  const body = op.operation['requestBody'] === undefined ? undefined : {};
  const res = await api(t.url, op.method, path, body, token);
  return { status: res.status, code: res.body?.error?.code };
}

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1 and every $ref resolves', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(await validateOpenApi(doc)).toEqual([]);
    expect(doc.info.description).toMatch(/ErrorBody/);
    expect(doc.servers).toEqual([{ url: t.server.config.routing.publicUrl ?? t.url, description: expect.any(String) }]);
    // The checker does catch a broken document.
    const broken = structuredClone(doc);
    broken.paths['/v1/messages'].post.requestBody.content['application/json'].schema = { $ref: '#/components/schemas/Nope' };
    delete broken.info;
    expect((await validateOpenApi(broken)).length).toBeGreaterThanOrEqual(2);
  });

  it('describes every registered API route, each with a unique camelCase operationId', () => {
    const registered = routesOf(t.server.http).filter((r) => !r.hidden).map((r) => `${r.method} ${r.url}`);
    expect(registered.length).toBeGreaterThanOrEqual(31);
    expect(ops.map((op) => op.key).sort()).toEqual([...new Set(registered)].sort());
    expect(ops.filter((op) => !/^[a-z][A-Za-z0-9]*$/.test(op.operationId ?? '')).map((op) => op.key), 'operations without a camelCase operationId').toEqual([]);
    const ids = ops.map((op) => op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i), 'duplicate operationIds').toEqual([]);
    expect(ids).toEqual(expect.arrayContaining(['registerDevice', 'createSession', 'submitMessage', 'getMailbox', 'getRoute']));
  });

  it('names every request and success response body as a component', () => {
    const inline: string[] = [];
    for (const op of ops) {
      const request = op.operation['requestBody'];
      if (request !== undefined && !jsonSchemaOf(request)?.$ref?.startsWith('#/components/schemas/')) inline.push(`${op.key} request`);
      for (const [status, response] of Object.entries(op.operation['responses'] as Record<string, unknown>)) {
        if (status.startsWith('2') && !jsonSchemaOf(response)?.$ref?.startsWith('#/components/schemas/')) inline.push(`${op.key} ${status}`);
      }
    }
    expect(inline).toEqual([]);
    // Core's object schemas inside bodies are components too (one Envelope type for a generator).
    expect(doc.components.schemas.MailboxResponse.properties.envelopes.items).toEqual({ $ref: '#/components/schemas/Envelope' });
  });

  it('declares the security of every operation, as the server enforces it', async () => {
    const schemes = doc.components.securitySchemes;
    expect(Object.keys(schemes).sort()).toEqual(['adminToken', 'deviceSession', 'metricsToken']);
    for (const scheme of Object.values(schemes)) expect(scheme).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(ops.filter((op) => op.security === undefined).map((op) => op.key), 'operations without security').toEqual([]);

    const wrong: string[] = [];
    for (const op of ops) {
      const names = op.security!.flatMap((s) => Object.keys(s));
      for (const name of names) if (!(name in schemes)) wrong.push(`${op.key}: unknown scheme ${name}`);
      const anonymous = op.security!.length === 0 || op.security!.some((s) => Object.keys(s).length === 0);
      const none = await call(op, undefined);
      // Public operations answer without credentials; the others refuse them before anything else.
      if (op.security!.length === 0 && REFUSED.has(none.code ?? '')) wrong.push(`${op.key}: declared public, answered ${none.status} ${none.code}`);
      if (!anonymous && (none.status !== 401 || !REFUSED.has(none.code ?? ''))) wrong.push(`${op.key}: declared ${names.join('|')}, answered ${none.status} ${none.code} without credentials`);
      if (anonymous) continue;
      for (const [name, token] of [['adminToken', ADMIN_TOKEN], ['deviceSession', device.token]] as const) {
        const res = await call(op, token);
        const accepted = !REFUSED.has(res.code ?? '');
        if (accepted !== names.includes(name)) wrong.push(`${op.key}: ${name} ${accepted ? 'accepted' : 'refused'} (${res.status} ${res.code}), declared ${names.join('|')}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  it('answers every error with ErrorBody, whose code lists every server code', () => {
    const problems: string[] = [];
    for (const op of ops) {
      const responses = op.operation['responses'] as Record<string, unknown>;
      const errors = Object.keys(responses).filter((s) => /^[45]/.test(s));
      if (!errors.includes('400') || !errors.includes('500')) problems.push(`${op.key}: no 400 or 500 declared`);
      if (op.security!.some((s) => Object.keys(s).length > 0) && !errors.includes('401')) problems.push(`${op.key}: authenticated, but no 401 declared`);
      for (const status of errors) if (jsonSchemaOf(responses[status])?.$ref !== ERROR_BODY) problems.push(`${op.key} ${status}: not ErrorBody`);
    }
    expect(problems).toEqual([]);
    const code = resolvePointer(doc, `${ERROR_BODY}/properties/error/properties/code`) as { anyOf: { enum?: string[]; pattern?: string }[] };
    const listed = new Set(code.anyOf.flatMap((a) => a.enum ?? []));
    const missing = [...SERVER_ERROR_CODES, ...Object.keys(CORE_ERROR_CODES)].filter((c) => !listed.has(c));
    expect(missing).toEqual([]);
    expect(new RegExp(code.anyOf.find((a) => a.pattern)!.pattern!).test('http_405')).toBe(true);
  });

  it("gives the relay message the server's real size limit", async () => {
    const limit = t.server.config.limits.maxMessageBytes;
    expect(limit).toBe(LIMITS.messageBytes);
    const maxLength = doc.components.schemas.SubmitRequest.properties.message.maxLength;
    expect(maxLength).toBe(4 * Math.ceil(limit / 3)); // 349,528: base64 of 256 KiB
    const submit = (key: string, message: string) =>
      api(t.url, 'POST', '/v1/messages', { idempotencyKey: key, conversationId: toBase64Url(randomBytes(32)), message }, device.token);
    // At the limit the size is accepted (the bytes are no MLS message); one byte over, or text over maxLength, is 413.
    const at = await submit('at', toBase64(new Uint8Array(limit)));
    expect([at.status, at.body.error.code]).toEqual([400, 'invalid_mls_message']);
    const over = await submit('over', toBase64(new Uint8Array(limit + 1)));
    expect([over.status, over.body.error.code]).toEqual([413, 'payload_too_large']);
    // (limit + 2 bytes: base64 without padding, so the longer text still matches the pattern)
    const tooLong = await submit('long', `${toBase64(new Uint8Array(limit + 2))}AAAA`);
    expect(tooLong.body.error.code).toBe('payload_too_large');
    expect(tooLong.status).toBe(413);
    expect(maxLength).toBeLessThan(4 * 1024 * 1024); // and below the JSON body limit, so the schema is what decides

    // The same limit over the WebSocket: a submit frame with too long a message gets its 413, not a bare invalid_frame.
    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${device.token}` } });
    const frames: { type: string; requestId?: string; status?: number; error?: { code: string } }[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data));
      frames.push(...(frame.type === 'batch' ? frame.frames : [frame]));
    });
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'submit', requestId: 'big', body: { idempotencyKey: 'ws-long', conversationId: toBase64Url(randomBytes(32)), message: `${toBase64(new Uint8Array(limit + 2))}AAAA` } }));
    await expect.poll(() => frames.find((f) => f.requestId === 'big'), { timeout: 5_000 }).toMatchObject({ type: 'error', status: 413, error: { code: 'payload_too_large' } });
    ws.close();
  });
});

/**
 * Bounded-time fuzzing of a real server (loopback HTTP; PGlite, or PostgreSQL with
 * PARLEY_TEST_ENGINE=postgres): every operation of its own /openapi.json — bad
 * parameters, one-field-at-a-time mutations of a valid request, broken and huge bodies,
 * bad credentials — and the routes OpenAPI does not list (WebSocket, webhooks, retrieval
 * page, tlog tiles, raw HTTP). Authenticated endpoints are reached with real sessions of
 * enrolled devices. Inputs derive from a fixed fast-check seed (fuzz-inputs.ts SEED).
 *
 * Asserted: no answer ≥ 500, every 4xx a JSON `{ error: { code, message } }`, every
 * answer within 5 s, and afterwards a healthy server that still does a normal round trip.
 * Each finding names the method, the path and the input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, ENGINE, openSession } from '@parley/test-kit/server';
import { Fuzzer, type FuzzRequest } from './fuzz-http.js';
import { fuzzRaw, fuzzStalls, hiddenCases, webhookCases } from './fuzz-hidden.js';
import { consoleCases, consoleSession } from './fuzz-console.js';
import { operationCases, operations, requestOf, type OpenApiDocument, type Operation } from './fuzz-openapi.js';
import { validRequests, type ValidRequest } from './fuzz-valid.js';
import { applicationMessage, buildWorld, type World } from './fuzz-world.js';
import { fuzzWebSocket } from './fuzz-ws.js';

let world: World;
let fz: Fuzzer;
let ops: Operation[];
const started = Date.now();
let setupSeconds = 0;
/** The last valid request of each operation (for the revoked-session pass and the WebSocket). */
const templates = new Map<string, { op: Operation; valid: ValidRequest; cases: FuzzRequest[] }>();
/** Time spent per operation (printed: where the budget goes). */
const timings: { key: string; cases: number; ms: number }[] = [];

beforeAll(async () => {
  world = await buildWorld();
  setupSeconds = (Date.now() - started) / 1000;
  fz = new Fuzzer(world.url);
  const doc = (await (await fetch(`${world.url}/openapi.json`)).json()) as OpenApiDocument;
  ops = operations(doc);
}, 120_000);

afterAll(async () => {
  if (fz) {
    const statuses = [...fz.statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ');
    console.log(`fuzz (${ENGINE}): ${fz.requests} requests/frames in ${((Date.now() - started) / 1000).toFixed(1)} s (setup ${setupSeconds.toFixed(1)} s); ${statuses}; slowest ${fz.slowest.ms.toFixed(0)} ms (${fz.slowest.what.slice(0, 100)})`);
    const costly = [...timings].sort((x, y) => y.ms - x.ms).slice(0, 6).map((t) => `${t.key} ${t.cases} in ${(t.ms / 1000).toFixed(1)} s`);
    console.log(`fuzz: costliest operations: ${costly.join('; ')}`);
    if (process.env['FUZZ_PROFILE']) console.log([...fz.costs.entries()].sort((x, y) => y[1] - x[1]).slice(0, 25).map(([k, ms]) => `${(ms / 1000).toFixed(1)} s ${k}`).join('\n'));
  }
  await world?.stop();
});

/** The problems found since the last call (the assertion lists every one). */
function findings(): string[] {
  return fz.problems.splice(0);
}

describe(`hardening: fuzz (${ENGINE})`, () => {
  it('walks every OpenAPI operation with bad, mutated and oversized input', async () => {
    const builders = validRequests(world);
    expect(ops.length).toBeGreaterThanOrEqual(31);
    expect(
      ops.filter((op) => !builders[op.key]).map((op) => op.key),
      'operations without a valid request in fuzz-valid.ts',
    ).toEqual([]);
    const others = { stranger: world.stranger.token, device: world.alice.token };
    const baselines: string[] = [];
    for (const op of ops) {
      for (const build of builders[op.key]!) {
        const opStarted = Date.now();
        const template = await build();
        const cases = operationCases(op, template, others);
        templates.set(op.key, { op, valid: template, cases });
        await fz.sendAll(cases);
        timings.push({ key: op.key, cases: cases.length, ms: Date.now() - opStarted });
        await template.settle?.();
        // The valid request itself must succeed: the mutations started from a request that works.
        const valid = await build();
        const res = await fz.send(requestOf(op, valid, 'the valid request'));
        const ok = res !== undefined && (valid.expect ? valid.expect.includes(res.status) : res.status >= 200 && res.status < 300);
        if (ok) await valid.accepted?.();
        else baselines.push(`${op.key}: the valid request answered ${res?.status ?? 'nothing'} ${res?.text.slice(0, 200) ?? ''}`);
      }
    }
    // A revoked device's session (the valid revoke request revoked it) on every operation.
    const revoked = world.revokedToken;
    expect(revoked, 'the revoke operation revoked a device').toBeDefined();
    await fz.sendAll([...templates.values()].map(({ op, valid }) => requestOf(op, valid, 'session of a revoked device', { authorization: `Bearer ${revoked}` })));
    expect(findings(), 'fuzz findings (method path — input: problem)').toEqual([]);
    expect(baselines, 'valid requests').toEqual([]);
  }, 300_000);

  it('hidden routes: webhooks, retrieval page, tlog tiles, operational endpoints, the operator console', async () => {
    await fz.sendAll(webhookCases(world));
    await fz.sendAll(hiddenCases(world));
    await fz.sendAll(consoleCases(await consoleSession(world)));
    await fuzzStalls(fz, world);
    expect(findings(), 'fuzz findings (method path — input: problem)').toEqual([]);
  }, 120_000);

  it('raw HTTP: duplicated headers, wrong lengths, broken chunking, odd request lines', async () => {
    await fuzzRaw(fz, world);
    expect(findings(), 'fuzz findings (method path — input: problem)').toEqual([]);
  }, 120_000);

  it('WebSocket /v1/ws: frames before auth, garbage, binary, huge, many, mutated submits and acks', async () => {
    const messages = templates.get('POST /v1/messages');
    const submits = (messages?.cases ?? [])
      .filter((c): c is FuzzRequest & { body: string } => typeof c.body === 'string' && c.body.length < 1_000_000 && c.headers?.['content-type'] === 'application/json' && c.headers['authorization'] === `Bearer ${world.sender.token}`)
      .map((c) => ({ what: c.what, body: c.body }))
      .filter((s) => safeJson(s.body));
    expect(submits.length).toBeGreaterThan(100);
    await fuzzWebSocket(fz, { url: world.url, token: world.sender.token, submits });
    expect(findings(), 'fuzz findings (method path — input: problem)').toEqual([]);
  }, 120_000);

  it('is healthy afterwards: health, readiness, a session and a message round trip', async () => {
    expect((await api(world.url, 'GET', '/healthz')).status).toBe(200);
    expect((await api(world.url, 'GET', '/readyz')).status).toBe(200);
    const token = await openSession(world.url, world.bob.deviceId, world.bob.identity);
    const sent = await api(world.url, 'POST', '/v1/messages', { idempotencyKey: 'after-fuzz', conversationId: world.conversationId, message: await applicationMessage(world, 'after') }, world.sender.token);
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const box = await api(world.url, 'GET', `/v1/mailbox?limit=1000`, undefined, token);
    expect(box.status).toBe(200);
    const ids = (box.body.envelopes as { id: string }[]).map((e) => e.id);
    expect(ids).toContain(sent.body.id);
    const ack = await api(world.url, 'POST', '/v1/mailbox/ack', { ids: [sent.body.id] }, token);
    expect(ack.status).toBe(200);
    expect(ack.body.acked).toBe(1);
    // No request ended in the server's "request failed" (5xx) log line.
    const failed = world.t.logs.filter((l) => l.includes('"request failed"'));
    expect(failed.map((l) => l.slice(0, 300)), 'server error log lines').toEqual([]);
  });
});

function safeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The log stream of a real server (config.log.destination): JSON lines only, ISO `time`,
 * string `level`; exactly one access line per request with its `reqId`, the route pattern
 * (never the raw URL or its query string), status and duration; an authentication failure
 * logged with its reason code, route and remote address, never the token (HTTP and
 * WebSocket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, startTestServer, type TestServer } from '@parley/test-kit/server';

interface LogLine {
  level: unknown;
  time: unknown;
  msg?: string;
  reqId?: string;
  event?: string;
  route?: string;
  method?: string;
  status?: number;
  code?: string;
  durationMs?: number;
  remoteAddress?: string;
}

const BAD_TOKEN = 'bogus-session-token-5f1e0c9a7b3d';
const QUERY_SECRET = 'query-secret-value-77aa01';

let t: TestServer;
let lines: LogLine[];

/** Opens a WebSocket with a bad bearer token and resolves with the close code. */
function refusedSocket(): Promise<number> {
  const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${BAD_TOKEN}ws` } });
  return new Promise((resolve, reject) => {
    ws.once('close', (code) => resolve(code));
    ws.once('error', reject);
  });
}

beforeAll(async () => {
  t = await startTestServer({ log: { level: 'info' } });
  expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  expect((await api(t.url, 'GET', `/nothing/here?token=${QUERY_SECRET}`)).status).toBe(404);
  expect((await api(t.url, 'GET', '/v1/mailbox', undefined, BAD_TOKEN)).status).toBe(401);
  expect(await refusedSocket()).toBe(4002);
  // The access line is written when the answer has been sent: give it a turn.
  await new Promise((r) => setTimeout(r, 200));
  lines = t.logs.map((l) => JSON.parse(l) as LogLine);
}, 60_000);

afterAll(async () => t?.stop());

describe('log format', () => {
  it('every line is JSON with an ISO 8601 time and a level name', () => {
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) {
      expect(typeof line.time).toBe('string');
      expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(new Date(line.time as string).toISOString()).toBe(line.time);
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(line.level);
    }
  });
});

describe('access lines', () => {
  const access = () => lines.filter((l) => l.event === 'access');

  it('one line per request, each with its own reqId', () => {
    const ids = access().map((l) => l.reqId);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Nothing else Fastify writes per request (no "incoming request" / "request completed").
    expect(lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed')).toEqual([]);
  });

  it('names the route pattern, method, status and duration', () => {
    const health = access().filter((l) => l.route === '/healthz');
    expect(health).toHaveLength(1);
    expect(health[0]).toMatchObject({ level: 'info', method: 'GET', status: 200 });
    expect(health[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(access().filter((l) => l.route === 'unmatched')).toEqual([expect.objectContaining({ method: 'GET', status: 404 })]);
    expect(access().filter((l) => l.route === '/v1/mailbox')).toEqual([expect.objectContaining({ method: 'GET', status: 401, code: 'session_invalid' })]);
  });

  it('holds neither the query string nor the raw path', () => {
    const all = t.logs.join('\n');
    expect(all).not.toContain(QUERY_SECRET);
    expect(all).not.toContain('/nothing/here');
  });
});

describe('authentication failures', () => {
  it('are logged with reason code, route and remote address, never the token (HTTP)', () => {
    const failures = lines.filter((l) => l.event === 'auth_failure' && l.route === '/v1/mailbox');
    expect(failures).toEqual([expect.objectContaining({ level: 'warn', code: 'session_invalid', status: 401, remoteAddress: '127.0.0.1' })]);
    // The same request as its access line.
    const accessLine = lines.find((l) => l.event === 'access' && l.route === '/v1/mailbox');
    expect(failures[0]!.reqId).toBe(accessLine!.reqId);
  });

  it('are logged for the WebSocket too', () => {
    expect(lines.filter((l) => l.event === 'auth_failure' && l.route === '/v1/ws')).toEqual([expect.objectContaining({ level: 'warn', code: 'session_invalid', remoteAddress: '127.0.0.1' })]);
  });

  it('no line holds a token', () => {
    expect(t.logs.join('\n')).not.toContain(BAD_TOKEN);
  });
});

/**
 * The metric families a real server exposes at /metrics after real traffic: HTTP requests
 * by route pattern (a 200, a 404, a 401), an open WebSocket, a group creation (envelopes
 * pending in mailboxes, key-log entries), database statements; and the naming rules
 * (Prometheus conventions): counters end in `_total`, gauges never do, no doubled prefix,
 * every family starts with `parley_`, no label value carries an id, a token or a URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN_TOKEN, ENGINE, api, createBusiness, createRawGroup, registerRawDevice, startTestServer, type RawDevice, type TestServer } from '@parley/test-kit/server';
import { find, parseExposition, total, type Exposition } from './exposition.js';

let t: TestServer;
let owner: RawDevice;
let member: RawDevice;
let ws: WebSocket | undefined;
let text: string;
let metrics: Exposition;

/** Opens an authenticated WebSocket and resolves on its `ready` frame. */
async function openSocket(token: string): Promise<WebSocket> {
  const socket = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${token}` } });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready frame')), 10_000);
    socket.on('message', (data) => {
      if (String(data).includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.once('error', reject);
  });
  return socket;
}

async function scrape(): Promise<string> {
  const res = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return res.text();
}

beforeAll(async () => {
  t = await startTestServer();
  const bank = await createBusiness(t.url);
  owner = await registerRawDevice(t.url, bank, 'metrics-sender', { kind: 'sender' });
  member = await registerRawDevice(t.url, bank, 'metrics-customer');
  expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  expect((await api(t.url, 'GET', `/no/such/${member.deviceId}?token=${member.token}`)).status).toBe(404);
  expect((await api(t.url, 'GET', '/v1/mailbox', undefined, 'not-a-session')).status).toBe(401);
  expect((await createRawGroup(t.url, owner, [member])).res.status).toBe(201);
  ws = await openSocket(member.token);
  text = await scrape();
  metrics = parseExposition(text);
}, 120_000);

afterAll(async () => {
  ws?.close();
  await t?.stop();
});

describe('metric names (Prometheus conventions)', () => {
  it('every family starts with parley_, has no doubled prefix; counters end in _total, gauges never', () => {
    expect(metrics.types.size).toBeGreaterThan(20);
    for (const [name, type] of metrics.types) {
      expect(name, name).toMatch(/^parley_/);
      expect(name, name).not.toMatch(/^parley_(process_process|nodejs_nodejs|parley)_/);
      // A word repeated at the start (`parley_x_x_…`) is a doubled prefix too.
      expect(name, name).not.toMatch(/^parley_([a-z]+)_\1_/);
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      if (type === 'gauge') expect(name, name).not.toMatch(/_total$/);
    }
    expect(metrics.types.get('parley_process_cpu_seconds_total')).toBe('counter');
    expect(metrics.types.get('parley_process_resident_memory_bytes')).toBe('gauge');
  });

  it('declares every family of docs/observability.md with its type', () => {
    const expected: Record<string, string> = {
      parley_http_requests_total: 'counter',
      parley_http_request_duration_seconds: 'histogram',
      parley_websocket_connections: 'gauge',
      parley_websocket_connections_opened_total: 'counter',
      parley_websocket_connections_closed_total: 'counter',
      parley_db_query_duration_seconds: 'histogram',
      parley_db_pool_connections: 'gauge',
      parley_db_pool_waiting_requests: 'gauge',
      parley_mailbox_pending_deliveries: 'gauge',
      parley_mailbox_pending_envelopes: 'gauge',
      parley_tlog_entries: 'gauge',
      parley_tlog_pending_entries: 'gauge',
      parley_tlog_oldest_pending_age_seconds: 'gauge',
      parley_route_steps_started_total: 'counter',
      parley_route_steps_finished_total: 'counter',
      parley_deliveries_total: 'counter',
      parley_channel_send_seconds: 'histogram',
    };
    for (const [name, type] of Object.entries(expected)) expect(metrics.types.get(name), name).toBe(type);
  });
});

describe('metric values after real traffic', () => {
  it('counts HTTP requests by route pattern, method and status; a 404 is "unmatched"', () => {
    expect(total(metrics, 'parley_http_requests_total', { route: '/healthz', method: 'GET', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(total(metrics, 'parley_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    expect(total(metrics, 'parley_http_requests_total', { route: '/v1/mailbox', method: 'GET', status: '401' })).toBe(1);
    expect(total(metrics, 'parley_http_requests_total', { route: '/v1/devices', method: 'POST', status: '201' })).toBe(2);
    expect(total(metrics, 'parley_http_request_duration_seconds_count', { route: '/healthz', status_class: '2xx' })).toBeGreaterThanOrEqual(1);
    const sum = total(metrics, 'parley_http_request_duration_seconds_sum', { route: '/v1/devices', status_class: '2xx' });
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(60);
  });

  it('counts the open WebSocket as authenticated', () => {
    expect(total(metrics, 'parley_websocket_connections', { state: 'authenticated' })).toBe(1);
    expect(total(metrics, 'parley_websocket_connections', { state: 'pending' })).toBe(0);
    expect(total(metrics, 'parley_websocket_connections_opened_total')).toBe(1);
  });

  it('times database statements by operation kind and reports the pool', () => {
    for (const operation of ['select', 'insert', 'update']) expect(total(metrics, 'parley_db_query_duration_seconds_count', { operation }), operation).toBeGreaterThan(0);
    expect(find(metrics, 'parley_db_query_duration_seconds_count').map((s) => s.labels['operation']).every((o) => ['select', 'insert', 'update', 'delete', 'other'].includes(o!))).toBe(true);
    expect(find(metrics, 'parley_db_pool_waiting_requests')).toHaveLength(1);
    if (ENGINE === 'postgres') expect(total(metrics, 'parley_db_pool_connections')).toBeGreaterThan(0);
    else expect(find(metrics, 'parley_db_pool_connections')).toHaveLength(0);
  });

  it('reads mailbox depth and transparency-log sizes at scrape time', () => {
    // The group creation left the Welcome for the member and the commit for nobody else: at least one delivery pending.
    expect(total(metrics, 'parley_mailbox_pending_deliveries')).toBeGreaterThanOrEqual(1);
    expect(total(metrics, 'parley_mailbox_pending_envelopes')).toBeGreaterThanOrEqual(1);
    // Two devices registered: at least two key-log entries, integrated or waiting.
    expect(total(metrics, 'parley_tlog_entries', { log: 'keys' }) + total(metrics, 'parley_tlog_pending_entries', { log: 'keys' })).toBeGreaterThanOrEqual(2);
    expect(find(metrics, 'parley_tlog_entries').map((s) => s.labels['log']).sort()).toEqual(['audit', 'keys']);
    for (const s of find(metrics, 'parley_tlog_oldest_pending_age_seconds')) expect(s.value).toBeGreaterThanOrEqual(0);
  });

  it('the mailbox gauge follows an acknowledgement (after its cache of a few seconds)', async () => {
    const before = total(metrics, 'parley_mailbox_pending_deliveries');
    const box = await api(t.url, 'GET', '/v1/mailbox?limit=100', undefined, member.token);
    const ids = (box.body.envelopes as { id: string }[]).map((e) => e.id);
    expect(ids.length).toBeGreaterThan(0);
    expect((await api(t.url, 'POST', '/v1/mailbox/ack', { ids }, member.token)).status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 5_100));
    expect(total(parseExposition(await scrape()), 'parley_mailbox_pending_deliveries')).toBe(before - ids.length);
  });

  it('no label value holds an id, a token or a raw URL', () => {
    for (const secret of [member.deviceId, owner.deviceId, member.token, owner.token, member.identityId, ADMIN_TOKEN, '/no/such']) expect(text).not.toContain(secret);
    for (const s of find(metrics, 'parley_http_requests_total')) expect(s.labels['route']).toMatch(/^(unmatched|\/[A-Za-z0-9/:_.*-]*)$/);
  });
});

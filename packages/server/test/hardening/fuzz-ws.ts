/**
 * WebSocket `/v1/ws` under bad input: frames before authentication, bad auth frames,
 * then (authenticated) garbage text, binary, deeply nested, huge and many frames, and
 * submit / ack frames carrying the HTTP mutations. Every `error` frame must carry a
 * status below 500 and a string code; every submit must be answered within 5 s; the
 * server must never close a socket with 1011 (internal error).
 */
import WebSocket from 'ws';
import { Compile } from 'typebox/compile';
import { ClientFrameSchema } from '@parley/core';
import type { Fuzzer } from './fuzz-http.js';
import { MAX_STALL_MS, REQUEST_TIMEOUT_MS, longestStall } from './fuzz-http.js';
import { NUMERIC_STRINGS, deepJson, serialize } from './fuzz-inputs.js';

const checkFrame = Compile(ClientFrameSchema);

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

interface Frame {
  type?: string;
  requestId?: string;
  status?: number;
  error?: { code?: unknown; message?: unknown };
  frames?: Frame[];
}

/** A client socket that collects the server's frames (batches unpacked) and its close. */
class Client {
  readonly frames: Frame[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        frame = { type: 'unparsable' };
      }
      for (const f of frame.type === 'batch' ? (frame.frames ?? []) : [frame]) this.frames.push(f);
      this.wake();
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    socket.on('error', () => this.wake());
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `done` holds (or the socket closed); false after 5 s. */
  async until(done: () => boolean, ms = REQUEST_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (this.closed) return done();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  send(data: string | Buffer, binary = false): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(data, { binary });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.close();
    await this.until(() => this.closed !== undefined, 2_000);
  }
}

async function open(url: string, token?: string): Promise<Client> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}), maxPayload: 64 * 1024 * 1024 });
  const client = new Client(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return client;
}

export interface WsInputs {
  readonly url: string;
  readonly token: string;
  /** Submit bodies to send in `submit` frames (the HTTP mutations of POST /v1/messages), with descriptions. */
  readonly submits: readonly { what: string; body: string }[];
}

/** Judges every frame and the close of one socket; `what` names the scenario. */
function judgeClient(fz: Fuzzer, client: Client, what: string): void {
  for (const f of client.frames) {
    if (f.type === 'unparsable') fz.report({ method: 'WS', path: '/v1/ws', what }, 'the server sent a frame that is not JSON');
    if (f.type !== 'error') continue;
    if (typeof f.status !== 'number' || f.status >= 500) fz.report({ method: 'WS', path: '/v1/ws', what }, `error frame with status ${String(f.status)} ${String(f.error?.code)}`);
    if (typeof f.error?.code !== 'string' || typeof f.error.message !== 'string') fz.report({ method: 'WS', path: '/v1/ws', what }, 'error frame without { code, message }');
  }
  if (client.closed?.code === 1011) fz.report({ method: 'WS', path: '/v1/ws', what }, `closed with 1011 ${client.closed.reason}`);
  fz.requests += client.frames.length;
}

/** Sends `frames`, then a ping, and waits for its pong: everything before it was at least read. */
async function exchange(fz: Fuzzer, client: Client, what: string, frames: readonly (string | Buffer)[], binary = false): Promise<void> {
  const pongs = client.frames.filter((f) => f.type === 'pong').length;
  for (const f of frames) client.send(f, binary);
  client.send('{"type":"ping"}');
  if (!(await client.until(() => client.frames.filter((f) => f.type === 'pong').length > pongs)) && !client.closed) {
    fz.report({ method: 'WS', path: '/v1/ws', what }, `no pong within ${REQUEST_TIMEOUT_MS / 1000} s`);
  }
}

const GARBAGE_FRAMES: readonly { what: string; data: string }[] = [
  { what: 'not JSON', data: 'hello' },
  { what: 'empty frame', data: '' },
  { what: 'JSON null', data: 'null' },
  { what: 'JSON array', data: '[]' },
  { what: 'unknown type', data: '{"type":"nope"}' },
  { what: 'type number', data: '{"type":1}' },
  { what: 'auth with a number token', data: '{"type":"auth","token":1}' },
  { what: 'ack without ids', data: '{"type":"ack"}' },
  { what: 'submit without body', data: '{"type":"submit","requestId":"x"}' },
  { what: 'ping with extra field', data: '{"type":"ping","x":1}' },
  { what: '__proto__ frame', data: '{"type":"ping","__proto__":{"polluted":true}}' },
  { what: '10 000-level nested frame', data: deepJson(10_000, 'array') },
  { what: '10 000-level nested object frame', data: deepJson(10_000, 'object') },
  { what: 'Latin-1 and lone-surrogate text', data: '{"type":"\u00ff\ud800"}' },
];

export async function fuzzWebSocket(fz: Fuzzer, inputs: WsInputs): Promise<void> {
  // 1. Before authentication: garbage is answered, a non-auth frame closes with 4002.
  {
    const client = await open(inputs.url);
    await exchange(fz, client, 'garbage before authentication', GARBAGE_FRAMES.slice(0, 6).map((g) => g.data));
    client.send('{"type":"ack","ids":["1"]}');
    await client.until(() => client.closed !== undefined);
    if (client.closed?.code !== 4002) fz.report({ method: 'WS', path: '/v1/ws', what: 'ack before authentication' }, `closed with ${String(client.closed?.code)}, expected 4002`);
    judgeClient(fz, client, 'before authentication');
  }
  // 2. Bad auth frames and headers: each gets an error frame and a 4002 close.
  for (const token of ['', 'garbage', 'a.b.c', 'x'.repeat(4096), `${inputs.token}x`, 'Bearer x']) {
    const what = `auth frame with token of ${token.length} characters`;
    const client = await open(inputs.url);
    client.send(JSON.stringify({ type: 'auth', token }));
    if (!(await client.until(() => client.closed !== undefined))) fz.report({ method: 'WS', path: '/v1/ws', what }, 'not closed within 5 s');
    judgeClient(fz, client, what);
    await client.close();
  }
  // 3. Authenticated: garbage, binary, huge, many, submit and ack frames.
  const client = await open(inputs.url, inputs.token);
  if (!(await client.until(() => client.frames.some((f) => f.type === 'ready')))) fz.report({ method: 'WS', path: '/v1/ws', what: 'authenticate with a header' }, 'no ready frame');
  for (const g of GARBAGE_FRAMES) await exchange(fz, client, `authenticated: ${g.what}`, [g.data]);
  await exchange(fz, client, 'binary frame', [Buffer.from('{"type":"ping"}')], true);
  await exchange(fz, client, 'binary garbage', [Buffer.from([0, 1, 2, 0xff])], true);
  await exchange(fz, client, 'second auth frame', [JSON.stringify({ type: 'auth', token: inputs.token })]);
  await exchange(fz, client, 'frame just under 4 MiB', [JSON.stringify({ type: 'submit', requestId: 'big', body: { x: 'A'.repeat(4 * 1024 * 1024 - 100) } })]);
  await exchange(fz, client, '1000 pings', Array.from({ length: 1000 }, () => '{"type":"ping"}'));
  await exchange(fz, client, '200 garbage frames', Array.from({ length: 200 }, (_v, i) => `{"type":"ack","ids":[${i}]}`));
  // Acks: ids at the 64-bit edges (valid shape), and wrong shapes.
  const ackIds = [...NUMERIC_STRINGS, '9999999999999999999', '1', '9223372036854775807'];
  for (const id of ackIds) await exchange(fz, client, `ack ids ["${id}"]`, [serialize({ type: 'ack', ids: [id] })]);
  await exchange(fz, client, 'ack of 1001 ids', [serialize({ type: 'ack', ids: Array.from({ length: 1001 }, (_v, i) => String(i + 1)) })]);
  await exchange(fz, client, 'ack of 1000 distinct 19-digit ids', [serialize({ type: 'ack', ids: Array.from({ length: 1000 }, (_v, i) => String(9_000_000_000_000_000_000n + BigInt(i))) })]);
  // Submits: each HTTP mutation of POST /v1/messages as a frame; each must be answered.
  for (const [i, s] of inputs.submits.entries()) {
    const requestId = `fz-${i}`;
    const frame = `{"type":"submit","requestId":${JSON.stringify(requestId)},"body":${s.body}}`;
    client.send(frame);
    if (checkFrame.Check(parse(frame))) {
      // A well-formed frame is answered by requestId (`submitted` or `error`).
      if (!(await client.until(() => client.frames.some((f) => f.requestId === requestId)))) {
        fz.report({ method: 'WS', path: '/v1/ws', what: `submit frame: ${s.what}` }, `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      }
    } else {
      await exchange(fz, client, `submit frame: ${s.what}`, []);
    }
  }
  await exchange(fz, client, 'after submits', []);
  if (client.closed) fz.report({ method: 'WS', path: '/v1/ws', what: 'authenticated session' }, `the server closed the socket: ${client.closed.code} ${client.closed.reason}`);
  judgeClient(fz, client, 'authenticated frames');
  await client.close();
  // 4. A frame that is cheap to send and expensive to parse must not hold the event loop.
  {
    const deep = await open(inputs.url, inputs.token);
    await deep.until(() => deep.frames.some((f) => f.type === 'ready'));
    const depth = 2 * 1024 * 1024 - 16;
    deep.send('['.repeat(depth) + ']'.repeat(depth));
    const what = `${depth}-level nested frame (just under 4 MiB)`;
    const stall = await longestStall(inputs.url, exchange(fz, deep, what, []));
    if (stall > MAX_STALL_MS) fz.report({ method: 'WS', path: '/v1/ws', what }, `GET /healthz waited ${stall.toFixed(0)} ms meanwhile (the event loop was held)`);
    judgeClient(fz, deep, what);
    await deep.close();
  }
  // 5. A text frame that is not UTF-8: the socket is closed (1007), not failed (1011).
  {
    const bad = await open(inputs.url, inputs.token);
    bad.send(Buffer.from([0x7b, 0xc0, 0xaf, 0xff, 0x7d]));
    if (!(await bad.until(() => bad.closed !== undefined))) fz.report({ method: 'WS', path: '/v1/ws', what: 'text frame with invalid UTF-8' }, 'not closed within 5 s');
    judgeClient(fz, bad, 'text frame with invalid UTF-8');
  }
  // 6. Over the 4 MiB frame limit: the socket is closed (1009), the server lives on.
  const big = await open(inputs.url, inputs.token);
  big.send('A'.repeat(4 * 1024 * 1024 + 1));
  if (!(await big.until(() => big.closed !== undefined))) fz.report({ method: 'WS', path: '/v1/ws', what: 'frame over 4 MiB' }, 'not closed within 5 s');
  judgeClient(fz, big, 'frame over 4 MiB');
}

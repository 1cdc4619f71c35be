/**
 * Sends fuzz requests and judges every answer: no 5xx, every 4xx a JSON
 * `{ error: { code, message } }`, an answer within 5 s. Problems are collected
 * (not thrown) so that one run reports all of them, each with the method, the
 * path and a short description of the input.
 */
import { connect } from 'node:net';

export const REQUEST_TIMEOUT_MS = 5_000;

/**
 * 503 codes the server may answer while it legitimately reports unavailability.
 * Empty: nothing in the fuzz setup makes the server unavailable.
 */
export const DOCUMENTED_503_CODES: ReadonlySet<string> = new Set<string>();

export interface FuzzRequest {
  readonly method: string;
  /** Path and query, percent-encoded as they go on the wire. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Short description of the input, for the failure message. */
  readonly what: string;
}

export interface FuzzResponse {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

/** What is wrong with an answer, or undefined. */
export function judge(method: string, status: number, text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : undefined;
  if (status >= 500) {
    if (status === 503 && code !== undefined && DOCUMENTED_503_CODES.has(code)) return undefined;
    return `answered ${status}${code ? ` ${code}` : ''}`;
  }
  if (status >= 400 && method !== 'HEAD') {
    if (code === undefined || typeof error?.message !== 'string') return `answered ${status} without a JSON { error: { code, message } } body: ${JSON.stringify(text.slice(0, 120))}`;
  }
  return undefined;
}

export class Fuzzer {
  readonly problems: string[] = [];
  readonly statuses = new Map<number, number>();
  requests = 0;
  slowest = { ms: 0, what: '' };

  constructor(readonly url: string) {}

  report(request: Pick<FuzzRequest, 'method' | 'path' | 'what'>, problem: string): void {
    const path = request.path.length > 120 ? `${request.path.slice(0, 120)}…(${request.path.length} chars)` : request.path;
    this.problems.push(`${request.method} ${path} — ${request.what}: ${problem}`);
  }

  /** Milliseconds spent per kind of input (the description up to its first ':='), for the budget. */
  readonly costs = new Map<string, number>();

  private count(status: number, ms: number, what: string): void {
    this.requests++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (ms > this.slowest.ms) this.slowest = { ms, what };
    const kind = what.replace(/^\S+ \S+ /, '').replace(/^.*?:= /, ':= ').slice(0, 40);
    this.costs.set(kind, (this.costs.get(kind) ?? 0) + ms);
  }

  /** One request through fetch; undefined when it failed (already reported). */
  async send(request: FuzzRequest): Promise<FuzzResponse | undefined> {
    const started = performance.now();
    try {
      const res = await fetch(this.url + request.path, {
        method: request.method,
        headers: request.headers ?? {},
        ...(request.body !== undefined ? { body: typeof request.body === 'string' ? request.body : new Uint8Array(request.body) } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await res.text();
      const ms = performance.now() - started;
      this.count(res.status, ms, `${request.method} ${request.path.slice(0, 80)} ${request.what}`);
      const problem = judge(request.method, res.status, text);
      if (problem) this.report(request, problem);
      return { status: res.status, text, ms };
    } catch (error) {
      this.requests++;
      this.report(request, failure(error));
      return undefined;
    }
  }

  /** Runs `requests` with at most `parallel` in flight (answers in input order). */
  async sendAll(requests: readonly FuzzRequest[], parallel = 4): Promise<(FuzzResponse | undefined)[]> {
    const out: (FuzzResponse | undefined)[] = new Array<FuzzResponse | undefined>(requests.length);
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        out[i] = await this.send(requests[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, requests.length) }, worker));
    return out;
  }

  /**
   * Raw bytes on a fresh TCP connection (for what fetch refuses to send: duplicated
   * headers, wrong Content-Length, bodies on GET, broken chunking). `halfClose` ends the
   * write side after sending; `mayGetNoAnswer` accepts a connection closed without a
   * response (the request was incomplete). Every HTTP response in the stream is judged.
   */
  async sendRaw(request: { what: string; method: string; path: string; bytes: Buffer; halfClose?: boolean; mayGetNoAnswer?: boolean }): Promise<number[]> {
    const { hostname, port } = new URL(this.url);
    const started = performance.now();
    const received = await new Promise<{ data: Buffer; timedOut: boolean; error?: string }>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect({ host: hostname, port: Number(port) });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ data: Buffer.concat(chunks), timedOut: true });
      }, REQUEST_TIMEOUT_MS);
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ data: Buffer.concat(chunks), timedOut: false, error: e.code ?? e.message });
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ data: Buffer.concat(chunks), timedOut: false });
      });
      socket.write(request.bytes, () => {
        if (request.halfClose) socket.end();
      });
    });
    const ms = performance.now() - started;
    const responses = parseResponses(received.data);
    if (responses.length === 0) {
      this.requests++;
      if (received.timedOut) this.report(request, `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      else if (!request.mayGetNoAnswer) this.report(request, `connection closed without an answer${received.error ? ` (${received.error})` : ''}`);
      return [];
    }
    for (const r of responses) {
      this.count(r.status, ms, request.what);
      const problem = judge(request.method, r.status, r.body);
      if (problem) this.report(request, problem);
    }
    return responses.map((r) => r.status);
  }
}

function failure(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return `request failed: ${cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))}`;
}

/** The HTTP/1.1 responses in a byte stream (Content-Length or chunked bodies). */
export function parseResponses(data: Buffer): { status: number; body: string }[] {
  const out: { status: number; body: string }[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = data.subarray(at, end).toString('latin1');
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!match) break;
    const headers = new Map<string, string>();
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    let bodyStart = end + 4;
    let body: Buffer;
    if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = data.indexOf('\r\n', bodyStart);
        if (lineEnd < 0) break;
        const size = parseInt(data.subarray(bodyStart, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size) || size === 0) {
          bodyStart = lineEnd + 4;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        bodyStart = lineEnd + 2 + size + 2;
      }
      body = Buffer.concat(parts);
      at = bodyStart;
    } else {
      const length = Number(headers.get('content-length') ?? data.length - bodyStart);
      body = data.subarray(bodyStart, bodyStart + length);
      at = bodyStart + length;
    }
    out.push({ status: Number(match[1]), body: body.toString('utf8') });
  }
  return out;
}

/** An HTTP/1.1 request as raw bytes. */
export function rawRequest(method: string, path: string, headerLines: readonly string[], body: Buffer | string = ''): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headerLines].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}

/**
 * The longest time `GET /healthz` took while `work` ran (probed back to back): how long
 * one request held the event loop from everyone else.
 */
export async function longestStall(url: string, work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true)).catch(() => {});
  let worst = 0;
  while (!done) {
    const started = performance.now();
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).then((r) => r.arrayBuffer()).catch(() => undefined);
    worst = Math.max(worst, performance.now() - started);
  }
  await work.catch(() => undefined);
  return worst;
}

/** Longest acceptable stall of the event loop by one request (a loaded 2-core machine included). */
export const MAX_STALL_MS = 1_000;

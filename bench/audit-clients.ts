/**
 * The replaying side of the audit benchmark (bench/audit.ts): POSTs pre-built,
 * signed business-message submissions (the exact requests the SDK made, captured
 * through its `fetch` option) to `/v1/messages` with a fixed number in flight,
 * times each until its 2xx answer, and then waits until the audit log's
 * checkpoint covers every returned index.
 *
 * Runs in its own process by default (`fork`, IPC) so that the client's HTTP work
 * does not share the server's event loop; `runReplay` can also run inline.
 */
import { performance } from 'node:perf_hooks';
import { childMain, type ChildMessage } from './lib/child.js';
import type WebSocket from 'ws';
import { summarize, type Percentiles } from './lib/stats.js';
import { authenticate, openWs, submitAnswers, type SubmitAnswer } from './lib/ws-client.js';

/** One captured submission. */
export interface ReplayRequest {
  /** `Bearer …` session token of the sending device, as the SDK sent it. */
  readonly authorization: string;
  /** The JSON body, byte for byte as the SDK serialized it. */
  readonly body: string;
}

/** The replay: where, what, and how many at once (written to a spec file in child mode). */
export interface ReplaySpec {
  /** Base URL of the server, e.g. `http://127.0.0.1:1234`. */
  readonly url: string;
  /** Warm-up requests first, then the measured ones. */
  readonly requests: readonly ReplayRequest[];
  readonly warmup: number;
  /** Requests in flight at any time. */
  readonly concurrency: number;
  /** Name of the audit log (`/logs/<name>/checkpoint`). */
  readonly logName: string;
  readonly progressIntervalMs: number;
  /** Longest wait for the checkpoint to cover everything after the last answer. */
  readonly sequenceTimeoutMs: number;
  /**
   * `http`: each submission is a `POST /v1/messages` (the SDK offline, or a plain REST caller).
   * `ws`: each device's submissions go as `submit` frames over one authenticated WebSocket, the
   * way the SDK (and the gateway, which runs it) submits while online (client/src/outbox.ts).
   */
  readonly transport: 'http' | 'ws';
}

/** Latency summary (lib/stats.ts: count, mean, nearest-rank p50/p90/p99/p99.9, max). */
export type LatencySummary = Percentiles;

/** What the replay measured. */
export interface ReplayResult {
  /** Measured submissions sent (warm-up excluded). */
  measured: number;
  /** Answered 201 with an audit index (accepted, durable, sequenced). */
  accepted: number;
  /** Answered 200 `duplicate` (none expected: every key is fresh). */
  duplicates: number;
  /** Anything else: non-2xx, transport error, or a 2xx without an audit index. */
  failures: number;
  statusCounts: Record<string, number>;
  errorSamples: string[];
  warmupFailures: number;
  /** Submit → 2xx answer (the answer carries the commitment's audit-log index). */
  latencyMs: LatencySummary;
  /** First measured request sent → last answer received. */
  acceptedSeconds: number;
  /** First measured request sent → a published checkpoint covers every returned index. */
  sequencedSeconds: number;
  /** Last answer → checkpoint covering everything (≈ 0: answers wait for sequencing). */
  lastAnswerToCoveredMs: number;
  minIndex: number;
  maxIndex: number;
  /** Distinct audit-log indexes returned (must equal `accepted`). */
  distinctIndexes: number;
  /** Tree size of the first checkpoint that covered everything. */
  checkpointSize: number;
  /** Request body sizes (bytes). */
  requestBytes: { mean: number; max: number };
  /** CPU of the replaying process over the measured submissions (ms). */
  clientCpuMs: number;
}

/** Points of the replay the server side samples at. */
export type ReplayPhase = 'measure-start' | 'measure-end';

/** Messages from this file to bench/audit.ts when it runs as a child. */
export type ReplayChildMessage = ChildMessage<ReplayResult, ReplayPhase>;

/** The `audit.index` of a submit answer, if it has one. */
function auditIndex(text: string): { index: number; duplicate: boolean } | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const o = parsed as { audit?: { index?: unknown }; duplicate?: unknown };
    const index = o.audit?.index;
    return typeof index === 'number' && Number.isInteger(index) && index >= 0 ? { index, duplicate: o.duplicate === true } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Tree size of the log's current checkpoint (C2SP tlog-checkpoint: the second line).
 *
 * @example
 * const size = await checkpointSize(url, 'audit');
 */
export async function checkpointSize(url: string, logName: string): Promise<number> {
  const res = await fetch(`${url}/logs/${logName}/checkpoint`);
  const text = await res.text();
  if (!res.ok) throw new Error(`checkpoint: ${res.status} ${text.slice(0, 200)}`);
  const size = Number(text.split('\n')[1]);
  if (!Number.isSafeInteger(size)) throw new Error(`checkpoint without a tree size: ${text.slice(0, 200)}`);
  return size;
}

/**
 * Replays the warm-up, then the measured submissions, and waits for the checkpoint.
 *
 * @example
 * const r = await runReplay(spec, { onProgress: console.error, onPhase: () => {} });
 */
export async function runReplay(spec: ReplaySpec, hooks: { onProgress: (line: string) => void; onPhase: (phase: ReplayPhase) => void }): Promise<ReplayResult> {
  const measuredCount = spec.requests.length - spec.warmup;
  const latencies: number[] = [];
  const indexes: number[] = [];
  const statusCounts: Record<string, number> = {};
  const errorSamples: string[] = [];
  let failures = 0;
  let warmupFailures = 0;
  let duplicates = 0;
  let lastAnswer = 0;

  const sockets = spec.transport === 'ws' ? await openSockets(spec) : undefined;
  const sendOne = async (i: number, measured: boolean): Promise<void> => {
    const r = spec.requests[i]!;
    const t0 = performance.now();
    let status = 'transport-error';
    let text = '';
    try {
      if (sockets) ({ status, text } = await sockets.submit(r, i));
      else {
      const res = await fetch(`${spec.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: r.authorization },
        body: r.body,
        signal: AbortSignal.timeout(60_000),
      });
      text = await res.text();
      status = String(res.status);
      }
    } catch (error) {
      text = error instanceof Error ? error.message : String(error);
    }
    const t1 = performance.now();
    const answer = status === '200' || status === '201' ? auditIndex(text) : undefined;
    if (!measured) {
      if (answer === undefined) warmupFailures++;
      return;
    }
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    lastAnswer = t1;
    if (answer === undefined) {
      failures++;
      if (errorSamples.length < 10) errorSamples.push(`${status}: ${text.slice(0, 300)}`);
      return;
    }
    if (answer.duplicate) duplicates++;
    latencies.push(t1 - t0);
    indexes.push(answer.index);
  };

  const pool = async (from: number, to: number, measured: boolean): Promise<void> => {
    let next = from;
    await Promise.all(
      Array.from({ length: spec.concurrency }, async () => {
        while (next < to) {
          const i = next++;
          await sendOne(i, measured);
        }
      }),
    );
  };

  hooks.onProgress(`replay: warm-up of ${spec.warmup} submissions, ${spec.concurrency} in flight`);
  await pool(0, spec.warmup, false);
  if (warmupFailures > 0) hooks.onProgress(`replay: ${warmupFailures} warm-up submissions failed`);

  hooks.onProgress(`replay: ${measuredCount} measured submissions, ${spec.concurrency} in flight`);
  hooks.onPhase('measure-start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let lastCount = 0;
  let lastTick = t0;
  const ticker = setInterval(() => {
    const now = performance.now();
    const done = latencies.length + failures;
    hooks.onProgress(
      `replay: ${done.toLocaleString('en-US')}/${measuredCount.toLocaleString('en-US')} answered (${Math.round(((done - lastCount) * 1000) / (now - lastTick)).toLocaleString('en-US')}/s now), ${failures} failures`,
    );
    lastCount = done;
    lastTick = now;
  }, spec.progressIntervalMs);
  try {
    await pool(spec.warmup, spec.requests.length, true);
  } finally {
    clearInterval(ticker);
  }
  hooks.onPhase('measure-end');
  const cpu = process.cpuUsage(cpu0);
  sockets?.close();
  const acceptedSeconds = ((lastAnswer || performance.now()) - t0) / 1000;

  // Every accepted commitment is in the log once a published checkpoint's tree covers its index.
  const maxIndex = indexes.reduce((a, b) => Math.max(a, b), -1);
  let size = await checkpointSize(spec.url, spec.logName);
  const deadline = performance.now() + spec.sequenceTimeoutMs;
  while (size <= maxIndex) {
    if (performance.now() > deadline) throw new Error(`checkpoint still at ${size} after ${spec.sequenceTimeoutMs} ms; highest index ${maxIndex}`);
    await new Promise((r) => setTimeout(r, 2));
    size = await checkpointSize(spec.url, spec.logName);
  }
  const covered = performance.now();
  const bytes = spec.requests.slice(spec.warmup).map((r) => Buffer.byteLength(r.body));
  return {
    measured: measuredCount,
    accepted: indexes.length - duplicates,
    duplicates,
    failures,
    statusCounts,
    errorSamples,
    warmupFailures,
    latencyMs: summarize(latencies),
    acceptedSeconds: Math.round(acceptedSeconds * 1000) / 1000,
    sequencedSeconds: Math.round(((covered - t0) / 1000) * 1000) / 1000,
    lastAnswerToCoveredMs: Math.round((covered - (lastAnswer || covered)) * 10) / 10,
    minIndex: indexes.length > 0 ? indexes.reduce((a, b) => Math.min(a, b)) : -1,
    maxIndex,
    distinctIndexes: new Set(indexes).size,
    checkpointSize: size,
    clientCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    requestBytes: { mean: Math.round(bytes.reduce((a, b) => a + b, 0) / Math.max(1, bytes.length)), max: bytes.reduce((a, b) => Math.max(a, b), 0) },
  };
}

/**
 * One authenticated WebSocket per sending device; `submit` sends a request's body as a `submit`
 * frame and resolves with its answer, as HTTP would have said it (`submitted`: 201, or 200 for a
 * duplicate, with the SubmitResponse as text; `error`: its status and error body).
 */
async function openSockets(spec: ReplaySpec): Promise<{ submit(r: ReplayRequest, seq: number): Promise<{ status: string; text: string }>; close(): void }> {
  const waiting = new Map<string, (answer: { status: string; text: string }) => void>();
  const byToken = new Map<string, WebSocket>();
  for (const authorization of new Set(spec.requests.map((r) => r.authorization))) {
    const ws = await openWs(`${spec.url.replace(/^http/, 'ws')}/v1/ws`);
    await authenticate(ws, authorization.replace(/^Bearer /, ''), 30_000);
    ws.on('message', (data: WebSocket.RawData) => {
      for (const f of submitAnswers(String(data)) as (SubmitAnswer & { status?: number; error?: unknown; result?: { duplicate?: boolean } })[]) {
        const done = f.requestId === undefined ? undefined : waiting.get(f.requestId);
        if (!done) continue;
        waiting.delete(f.requestId!);
        if (f.type === 'submitted') done({ status: f.result?.duplicate === true ? '200' : '201', text: JSON.stringify(f.result) });
        else done({ status: String(f.status ?? 'error'), text: JSON.stringify(f.error) });
      }
    });
    byToken.set(authorization, ws);
  }
  return {
    submit(r, seq) {
      const requestId = String(seq);
      return new Promise((resolve) => {
        waiting.set(requestId, resolve);
        byToken.get(r.authorization)!.send(`{"type":"submit","requestId":"${requestId}","body":${r.body}}`);
      });
    },
    close() {
      for (const ws of byToken.values()) ws.close();
    },
  };
}

// --- child-process entry ------------------------------------------------------------

childMain<ReplaySpec, ReplayResult, ReplayPhase>({
  moduleUrl: import.meta.url,
  file: 'audit-clients.ts',
  parent: 'audit.ts',
  run: (spec, hooks) => runReplay(spec, { onProgress: hooks.onProgress, onPhase: (phase) => void hooks.onPhase(phase) }),
});

/**
 * The webhook dispatcher: posts the pending rows of `gateway_webhook_deliveries` to their
 * URLs, signed per Standard Webhooks, and retries failures on a schedule until delivered or
 * given up. Several gateway instances run one each on the same database:
 *
 * - A claim is ONE statement: it picks due rows `FOR UPDATE SKIP LOCKED` (concurrent claimers
 *   never pick the same row) and marks them `locked_until = now() + lock`, `attempts + 1`,
 *   then commits. No row lock is held during the HTTP call; an instance killed mid-call
 *   leaves a row whose `locked_until` expires, and any instance retries it (at-least-once:
 *   the receiver deduplicates by `webhook-id`).
 * - Outcomes are fenced by `attempts`: a failure is recorded only while the row still carries
 *   this instance's claim; a success is recorded whatever happened meanwhile.
 * - In order per message and URL: a row is due only when no row with a smaller seq for the
 *   same (message_id, url) is still pending (neither delivered nor given up).
 * - Times are the database's (`now()`), so instances with skewed clocks agree.
 */
import { callDeadline } from '@parley/core';
import type { Sql } from '@parley/server';
import { eventFromRow, webhookBody, type GatewayEventRow } from './events.js';
import { webhookHeaders } from './standard-webhooks.js';
import { isWebhookUrl } from './webhook-url.js';

/**
 * Seconds between attempts: Svix's schedule (8 attempts over 27 h 35 min 5 s), then the
 * delivery is given up. The first attempt is immediate.
 */
export const DEFAULT_WEBHOOK_SCHEDULE: readonly number[] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

const USER_AGENT = 'parley-gateway/0.1';
const MAX_ERROR_CHARS = 200;

/** The logger the dispatcher writes to (pino's Logger fits). */
export interface WebhookLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface WebhookDispatcherOptions {
  db: Sql;
  /** The current signing secrets (`whsec_…`); every one signs each request (rotation). */
  secrets: () => readonly string[];
  fetch?: typeof fetch;
  log?: WebhookLog;
  /** Seconds between attempts (default `DEFAULT_WEBHOOK_SCHEDULE`); after the last, give up. */
  schedule?: readonly number[];
  /** Per request, until the response headers (default 10 000). */
  timeoutMs?: number;
  /** How long a claim lasts (default: enough for a whole batch at `concurrency`, + 30 s). */
  lockMs?: number;
  /** Rows per claim (default 20). */
  batchSize?: number;
  /** Pause after a claim that was not full (default 1000). */
  pollMs?: number;
  /** Requests in flight at once (default 10). */
  concurrency?: number;
  /** Random spread of each retry delay, a fraction each way (default 0.1 = ±10 %). */
  jitter?: number;
}

interface ClaimedRow extends GatewayEventRow {
  url: string;
  attempts: number;
}

type Outcome = { ok: true; status: number } | { ok: false; status: number | null; error: string; giveUp: boolean } | { ok: 'stopped' };

/** The origin of a URL, for logs (a path or query may carry the receiver's token). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

/** A short, payload-free description of a failed request. */
function describe(error: unknown, timeoutMs: number): string {
  const e = error as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e?.name === 'TimeoutError') return `timeout after ${timeoutMs} ms`;
  const cause = e?.cause;
  const detail = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : typeof e?.message === 'string' ? e.message : 'request failed';
  return `request failed: ${detail}`.slice(0, MAX_ERROR_CHARS);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Delivers the gateway's status webhooks (see the module comment for the guarantees).
 *
 * @example
 * const dispatcher = new WebhookDispatcher({ db, secrets: () => [config.webhookSecret], log })
 * dispatcher.start()
 * // after appending events: dispatcher.poke()
 * await dispatcher.stop()
 */
export class WebhookDispatcher {
  private readonly db: Sql;
  private readonly secrets: () => readonly string[];
  private readonly fetch: typeof fetch;
  private readonly log: WebhookLog | undefined;
  private readonly schedule: readonly number[];
  private readonly timeoutMs: number;
  private readonly lockMs: number;
  private readonly batchSize: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly jitter: number;
  private abort = new AbortController();
  private readonly inFlight = new Set<Promise<number>>();
  private loop: Promise<void> | undefined;
  private stopped = true;
  private wake: (() => void) | undefined;

  constructor(options: WebhookDispatcherOptions) {
    this.db = options.db;
    this.secrets = options.secrets;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.log = options.log;
    this.schedule = options.schedule ?? DEFAULT_WEBHOOK_SCHEDULE;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.batchSize = options.batchSize ?? 20;
    this.pollMs = options.pollMs ?? 1000;
    this.concurrency = options.concurrency ?? 10;
    this.jitter = options.jitter ?? 0.1;
    this.lockMs = options.lockMs ?? this.timeoutMs * Math.ceil(this.batchSize / this.concurrency) + 30_000;
    if (!this.schedule.every((s) => Number.isFinite(s) && s >= 0)) throw new RangeError('schedule: seconds must be non-negative numbers');
    for (const [name, value] of Object.entries({ timeoutMs: this.timeoutMs, batchSize: this.batchSize, pollMs: this.pollMs, concurrency: this.concurrency })) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    }
    if (!(this.lockMs > this.timeoutMs)) throw new RangeError('lockMs must exceed timeoutMs');
    if (!(this.jitter >= 0 && this.jitter < 1)) throw new RangeError('jitter must be in [0, 1)');
  }

  /** Starts the loop: claims and delivers until `stop()`. Idempotent. */
  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.loop = this.run();
  }

  /** Wakes a sleeping loop now (call after appending events, to skip the poll wait). */
  poke(): void {
    this.wake?.();
  }

  /**
   * Stops the loop. Requests in flight are aborted and their claims released (another
   * instance, or this one restarted, retries them at once); resolves when all have settled.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    await Promise.allSettled([...this.inFlight]);
    this.loop = undefined;
    this.abort = new AbortController();
  }

  /** Claims the due deliveries (up to `batchSize`), attempts each, records the outcomes. */
  runOnce(): Promise<number> {
    const run = this.claimAndDeliver();
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run)).catch(() => {});
    return run;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let attempted = 0;
      try {
        attempted = await this.runOnce();
      } catch (error) {
        this.log?.warn({ error: describe(error, this.timeoutMs) }, 'webhook dispatch round failed');
      }
      if (this.stopped) break;
      // Something was attempted: the next events of those messages may be due now (in order per message).
      if (attempted === 0) await this.sleep(this.pollMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async claimAndDeliver(): Promise<number> {
    const signal = this.abort.signal;
    const rows = await this.db.query<ClaimedRow>(
      `WITH claimed AS (
         UPDATE gateway_webhook_deliveries d
         SET locked_until = now() + make_interval(secs => $2::float8), attempts = d.attempts + 1
         WHERE (d.event_id, d.url) IN (
           SELECT c.event_id, c.url FROM gateway_webhook_deliveries c
           WHERE c.delivered_at IS NULL AND c.given_up_at IS NULL AND c.next_at <= now()
             AND (c.locked_until IS NULL OR c.locked_until <= now())
             AND NOT EXISTS (
               SELECT 1 FROM gateway_webhook_deliveries p
               WHERE p.message_id = c.message_id AND p.url = c.url AND p.seq < c.seq
                 AND p.delivered_at IS NULL AND p.given_up_at IS NULL)
           ORDER BY c.next_at, c.seq
           LIMIT $1
           FOR UPDATE SKIP LOCKED)
         RETURNING d.event_id, d.url, d.attempts)
       SELECT e.seq, e.id, e.message_id, e.type, e.data, e.created_at, c.url, c.attempts
       FROM claimed c JOIN gateway_events e ON e.id = c.event_id
       ORDER BY e.seq`,
      [this.batchSize, String(this.lockMs / 1000)],
    );
    await forEachLimit(rows, this.concurrency, (row) => this.deliver(row, signal));
    return rows.length;
  }

  private async deliver(row: ClaimedRow, signal: AbortSignal): Promise<void> {
    const attempts = Number(row.attempts);
    let outcome: Outcome;
    try {
      outcome = await this.attempt(row, signal);
    } catch (error) {
      outcome = { ok: false, status: null, error: describe(error, this.timeoutMs), giveUp: false };
    }
    try {
      await this.record(row, attempts, outcome);
    } catch (error) {
      // The claim expires and the delivery is tried again.
      this.log?.warn({ eventId: row.id, url: origin(row.url), error: describe(error, this.timeoutMs) }, 'could not record a webhook attempt');
    }
  }

  private async attempt(row: ClaimedRow, signal: AbortSignal): Promise<Outcome> {
    if (!isWebhookUrl(row.url)) return { ok: false, status: null, error: 'not an http(s) URL', giveUp: true };
    const secrets = this.secrets();
    if (secrets.length === 0) return { ok: false, status: null, error: 'no webhook secret configured', giveUp: false };
    const event = eventFromRow(row);
    const body = JSON.stringify(webhookBody(event));
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...webhookHeaders(secrets, event.id, Math.floor(Date.now() / 1000), body),
    };
    if (signal.aborted) return { ok: 'stopped' };
    let response: Response;
    // Not AbortSignal.any + AbortSignal.timeout: its timer can be collected and never fire (core deadline.ts).
    const deadline = callDeadline(this.timeoutMs, [signal]);
    try {
      response = await this.fetch(row.url, {
        method: 'POST',
        headers,
        body,
        // A redirect is a failure (Standard Webhooks: update the URL instead).
        redirect: 'manual',
        signal: deadline.signal,
      });
    } catch (error) {
      if (signal.aborted) return { ok: 'stopped' };
      return { ok: false, status: null, error: describe(error, this.timeoutMs), giveUp: false };
    } finally {
      deadline.clear();
    }
    // The response body is never read nor stored.
    await response.body?.cancel().catch(() => {});
    if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
    // 410 Gone: the receiver says it wants no more of these; give up at once (Standard Webhooks).
    return { ok: false, status: response.status, error: `HTTP ${response.status}`, giveUp: response.status === 410 };
  }

  private async record(row: ClaimedRow, attempts: number, outcome: Outcome): Promise<void> {
    const key = [row.id, row.url] as const;
    const logged = { eventId: row.id, seq: String(row.seq), url: origin(row.url), attempts };
    if (outcome.ok === 'stopped') {
      await this.db.query(
        'UPDATE gateway_webhook_deliveries SET locked_until = NULL WHERE event_id = $1 AND url = $2 AND attempts = $3 AND delivered_at IS NULL',
        [...key, attempts],
      );
      return;
    }
    if (outcome.ok) {
      await this.db.query(
        `UPDATE gateway_webhook_deliveries SET delivered_at = now(), locked_until = NULL, last_status = $3, last_error = NULL
         WHERE event_id = $1 AND url = $2 AND delivered_at IS NULL`,
        [...key, outcome.status],
      );
      this.log?.info({ ...logged, status: outcome.status }, 'webhook delivered');
      return;
    }
    const error = outcome.error.slice(0, MAX_ERROR_CHARS);
    const delay = this.schedule[attempts - 1];
    if (outcome.giveUp || delay === undefined) {
      await this.db.query(
        `UPDATE gateway_webhook_deliveries SET given_up_at = now(), locked_until = NULL, last_status = $4, last_error = $5
         WHERE event_id = $1 AND url = $2 AND attempts = $3 AND delivered_at IS NULL AND given_up_at IS NULL`,
        [...key, attempts, outcome.status, error],
      );
      this.log?.warn({ ...logged, status: outcome.status, error }, 'webhook given up');
      return;
    }
    const seconds = delay * (1 + this.jitter * (2 * Math.random() - 1));
    await this.db.query(
      `UPDATE gateway_webhook_deliveries
       SET next_at = now() + make_interval(secs => $6::float8), locked_until = NULL, last_status = $4, last_error = $5
       WHERE event_id = $1 AND url = $2 AND attempts = $3 AND delivered_at IS NULL AND given_up_at IS NULL`,
      [...key, attempts, outcome.status, error, String(seconds)],
    );
    this.log?.warn({ ...logged, status: outcome.status, error, retryInSeconds: Math.round(seconds * 10) / 10 }, 'webhook attempt failed');
  }
}

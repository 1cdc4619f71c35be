/**
 * Metadata-only diagnostics for the operator's console (`POST /v1/diagnostics`): how many
 * envelopes this device could not read, counted by reason code, and — on a customer's device —
 * that the customer verified their business. Nothing else leaves: no message, envelope or
 * conversation id, no contact id, no error text; only core's reason codes, the SDK version and
 * the platform. Reports are batched (a burst goes in one report; at most one a minute) and what
 * is pending goes when the device connects. A failed report is retried with the next one (its
 * counts kept, within bounds) and never surfaces: messaging does not wait on it.
 * `DeviceOptions.diagnostics: false` turns it off.
 */
import { businessOf, normalizeUndecryptableReason, type DiagnosticsPlatform, type DiagnosticsReport, type IdentityId } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { ApiError } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import { SDK_VERSION } from './sdk-version.js';

/** Shortest time between two reports. */
export const DIAGNOSTICS_INTERVAL_MS = 60_000;
/** A report waits this long after what it reports first, so a burst of failures goes in one report. */
export const DIAGNOSTICS_BATCH_MS = 2_000;
/** A count kept for a report that could not be sent stops growing here (the server caps counts too). */
const MAX_PENDING_COUNT = 100_000;

/** The platform this code runs on: a page (`browser`), Node (`node`), else `other`. */
export function detectPlatform(): DiagnosticsPlatform {
  const g = globalThis as { document?: unknown; process?: { versions?: { node?: unknown } } };
  if (typeof g.document === 'object' && g.document !== null) return 'browser';
  if (typeof g.process?.versions?.node === 'string') return 'node';
  return 'other';
}

export interface DiagnosticsContext {
  readonly api: Pick<ApiClient, 'send'>;
  readonly hub: Pick<EventHub<DeviceEvent>, 'subscribe'>;
  readonly identityId: IdentityId;
  /** The device's kind (`customer`, …); known once enrolled. */
  kind(): string | undefined;
  /** Overrides {@link DIAGNOSTICS_INTERVAL_MS} (tests). */
  readonly intervalMs?: number;
  readonly platform?: DiagnosticsPlatform;
}

/**
 * @internal Counts a device's undecryptable envelopes by reason and its customer's verification
 * of the business, and reports them (see the module comment).
 *
 * @example
 * const reporter = new DiagnosticsReporter({ api, hub, identityId, kind: () => 'customer' });
 * reporter.onConnection(true); // sends what is pending
 */
export class DiagnosticsReporter {
  private readonly failures = new Map<string, number>();
  private verification: DiagnosticsReport['verification'];
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending = false;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly intervalMs: number;
  private readonly platform: DiagnosticsPlatform;

  constructor(private readonly ctx: DiagnosticsContext) {
    this.intervalMs = ctx.intervalMs ?? DIAGNOSTICS_INTERVAL_MS;
    this.platform = ctx.platform ?? detectPlatform();
    this.unsubscribe = ctx.hub.subscribe((event) => {
      if (event.type !== 'undecryptable') return;
      // The reason only: the event's envelope, conversation and sender ids stay on the device.
      const reason = normalizeUndecryptableReason(event.reason);
      this.failures.set(reason, Math.min(MAX_PENDING_COUNT, (this.failures.get(reason) ?? 0) + 1));
      this.schedule();
    });
  }

  /**
   * The customer verified a contact's keys: reported when the contact is of the customer's own
   * business (the business's agents and senders), by a customer's device only.
   */
  verified(contactIdentityId: string, method: 'qr' | 'numeric'): void {
    if (this.ctx.kind() !== 'customer' || contactIdentityId === this.ctx.identityId) return;
    if (businessOf(contactIdentityId as IdentityId) !== businessOf(this.ctx.identityId)) return;
    this.verification = { state: 'verified', method };
    this.schedule();
  }

  /** The connection came up: what is pending goes now (once a minute at most); down: nothing. */
  onConnection(online: boolean): void {
    if (online) this.schedule();
  }

  /** Stops counting and reporting (what is pending is dropped). */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private pending(): boolean {
    return this.failures.size > 0 || this.verification !== undefined;
  }

  private schedule(): void {
    if (this.closed || this.timer || this.sending || !this.pending()) return;
    const wait = Math.max(DIAGNOSTICS_BATCH_MS, this.lastSentAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, wait);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Sends what is pending; silent on failure (unless the server refused the report itself, its counts go back for the next one). */
  private async flush(): Promise<void> {
    if (this.closed || !this.pending()) return;
    const failures = [...this.failures].map(([reason, count]) => ({ reason, count }));
    const verification = this.verification;
    this.failures.clear();
    this.verification = undefined;
    const report: DiagnosticsReport = {
      sdkVersion: SDK_VERSION,
      platform: this.platform,
      ...(failures.length > 0 ? { decryptFailures: failures } : {}),
      ...(verification ? { verification } : {}),
    };
    this.sending = true;
    this.lastSentAt = Date.now();
    try {
      const res = await this.ctx.api.send('POST', '/v1/diagnostics', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(report) }, true);
      await res.arrayBuffer().catch(() => undefined);
    } catch (error) {
      // Not delivered (offline, rate limited, server down): kept for the next report. Refused as
      // such (400, 413, a revoked device): dropped.
      if (!(error instanceof ApiError) || error.retryable) {
        for (const { reason, count } of failures) this.failures.set(reason, Math.min(MAX_PENDING_COUNT, (this.failures.get(reason) ?? 0) + count));
        this.verification ??= verification;
      }
    } finally {
      this.sending = false;
    }
    this.schedule();
  }
}

/**
 * The operator console's read views as the server answers them under `/console/api/` and the
 * console page (apps/console) reads them: one definition for both sides. Metadata only: counts,
 * paths, classes, reason codes, ids the operator already administers; never content.
 */

/** Counts per delivery outcome: a path (`app`, `push-app`, …, `blocked`, `invited`) or a state (`exhausted`, `failed`, `active`). */
export type PathCounts = Readonly<Record<string, number>>;

/**
 * `GET /console/api/delivery?hours=N`.
 *
 * @example
 * const shareByApp = (view: DeliveryView) => view.byClass.map((c) => (c.byPath['app'] ?? 0) / c.total);
 */
export interface DeliveryView {
  readonly from: string;
  readonly to: string;
  /** One bucket per hour of the window (empty hours included), oldest first; routes by creation hour. */
  readonly buckets: readonly { readonly at: string; readonly byPath: PathCounts }[];
  readonly byClass: readonly { readonly class: string; readonly total: number; readonly byPath: PathCounts }[];
  /** Delivered routes whose path is not their policy's first step, over delivered routes (0 when none). */
  readonly fallbackRate: number;
  /** Route creation → delivered (`finished_at` of a delivered route). */
  readonly timeToDelivered: { readonly count: number; readonly p50Ms: number | null; readonly p99Ms: number | null };
  readonly providerErrors: readonly { readonly channel: string; readonly reason: string; readonly count: number }[];
}

/**
 * One route as `GET /console/api/routes` lists it.
 *
 * @example
 * const delivered = (rows: readonly RouteSummary[]) => rows.filter((r) => r.state === 'delivered');
 */
export interface RouteSummary {
  readonly messageId: string;
  readonly businessId: string;
  readonly class: string;
  readonly mode: string;
  readonly state: string;
  readonly path: string | null;
  readonly createdAt: string;
  /** The latest of the route's creation, finish and decisions. */
  readonly updatedAt: string;
}

/**
 * `GET /console/api/routes/:messageId`: a route with every decision and provider hand-off.
 *
 * @example
 * const decisions = (detail: RouteDetail) => detail.events.map((e) => `${e.step}: ${e.decision}`);
 */
export interface RouteDetail {
  readonly route: RouteSummary;
  readonly events: readonly { readonly at: string; readonly step: string; readonly channel: string | null; readonly decision: string; readonly reason: string | null }[];
  /** Provider hand-offs; `step` is the policy step's name when the policy still has it, else its index. */
  readonly sends: readonly { readonly step: string; readonly channel: string; readonly status: string; readonly reason: string | null; readonly at: string }[];
}

/** A device change in the key log, as the verification view lists it. */
export type KeyChangeKind = 'device-added' | 'device-revoked' | 'keys-rotated';

/**
 * `GET /console/api/verification`.
 *
 * @example
 * const share = (v: VerificationView) => (v.customers.total === 0 ? 0 : v.customers.verified / v.customers.total);
 */
export interface VerificationView {
  /** Customer identities, and those whose device reported the business verified. */
  readonly customers: { readonly total: number; readonly verified: number };
  /** Verified customers by how they verified (a report without a method counts in neither). */
  readonly byMethod: { readonly qr: number; readonly numeric: number };
  /** Devices waiting for an existing device's approval, newest first. */
  readonly pendingDevices: readonly { readonly deviceId: string; readonly identityId: string; readonly label: string | null; readonly createdAt: string }[];
  /** The key log's latest device changes, newest first. */
  readonly keyChanges: readonly { readonly at: string; readonly identityId: string | null; readonly deviceId: string; readonly kind: KeyChangeKind }[];
}

/**
 * `GET /console/api/decrypt-failures?hours=N`: what devices reported (`POST /v1/diagnostics`).
 *
 * @example
 * const top = (v: DecryptFailuresView) => v.byReason[0]?.reason;
 */
export interface DecryptFailuresView {
  readonly total: number;
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  readonly byVersion: readonly { readonly sdkVersion: string; readonly platform: string; readonly count: number }[];
  /** One bucket per hour of the window (empty hours included), oldest first. */
  readonly buckets: readonly { readonly at: string; readonly count: number }[];
}

/**
 * One transparency log in `GET /console/api/logs`.
 *
 * @example
 * const grew = (log: LogView) => (log.history.at(-1)?.size ?? 0) - (log.history[0]?.size ?? 0);
 */
export interface LogView {
  readonly name: string;
  readonly origin: string;
  readonly size: number;
  /** The latest checkpoint, a signed note (C2SP tlog-checkpoint). */
  readonly checkpoint: string;
  readonly verifierKeys: readonly string[];
  /** The largest tree size of each hour with a checkpoint, oldest first. */
  readonly history: readonly { readonly at: string; readonly size: number }[];
}

/**
 * The server's own check of its logs, run on every `GET /console/api/logs`.
 *
 * @example
 * if (!status.ok) console.warn(status.problems.join('; '));
 */
export interface MonitorStatus {
  readonly checkedAt: string;
  readonly ok: boolean;
  /** What failed, one sentence each (empty when `ok`). */
  readonly problems: readonly string[];
}

/**
 * `GET /console/api/logs`.
 *
 * @example
 * const sizes = (v: LogsView) => v.logs.map((l) => `${l.name}: ${l.size}`);
 */
export interface LogsView {
  readonly logs: readonly LogView[];
  readonly monitor: MonitorStatus;
}

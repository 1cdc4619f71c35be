/**
 * The console's HTTP client: same-origin JSON calls to `/console/api/…` (the contract in
 * docs/console or briefs), the session cookie sent by the browser, the CSRF token on every
 * mutation. Errors come back as {@link ApiError} with the server's stable `code`.
 */

/** The role of an operator: viewers read, admins also act. */
export type Role = 'viewer' | 'admin';

export interface Operator {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly createdAt?: string;
  readonly disabledAt?: string | null;
}

export interface Session {
  readonly operator: Operator;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export interface DeliveryReport {
  readonly from: string;
  readonly to: string;
  readonly buckets: readonly { readonly at: string; readonly byPath: Readonly<Record<string, number>> }[];
  readonly byClass: readonly { readonly class: string; readonly total: number; readonly byPath: Readonly<Record<string, number>> }[];
  readonly fallbackRate: number;
  readonly timeToDelivered: { readonly count: number; readonly p50Ms: number | null; readonly p99Ms: number | null };
  readonly providerErrors: readonly { readonly channel: string; readonly reason: string; readonly count: number }[];
}

export interface RouteSummary {
  readonly messageId: string;
  readonly businessId: string;
  readonly class: string;
  readonly mode: string;
  readonly state: string;
  readonly path: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface RouteDetail {
  readonly route: RouteSummary;
  readonly events: readonly { readonly at: string; readonly step: number | string; readonly channel: string | null; readonly decision: string; readonly reason: string | null }[];
  readonly sends: readonly { readonly step: number | string; readonly channel: string; readonly status: string; readonly reason: string | null; readonly at: string }[];
}

export interface VerificationReport {
  readonly customers: { readonly total: number; readonly verified: number };
  readonly byMethod: { readonly qr: number; readonly numeric: number };
  readonly pendingDevices: readonly { readonly deviceId: string; readonly identityId: string; readonly label: string | null; readonly createdAt: string }[];
  readonly keyChanges: readonly { readonly at: string; readonly identityId: string | null; readonly deviceId: string; readonly kind: string }[];
}

export interface DecryptFailureReport {
  readonly total: number;
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  readonly byVersion: readonly { readonly sdkVersion: string; readonly platform: string; readonly count: number }[];
  readonly buckets: readonly { readonly at: string; readonly count: number }[];
}

export interface LogSummary {
  readonly name: string;
  readonly origin: string;
  readonly size: number;
  readonly checkpoint: string;
  readonly verifierKeys: readonly string[];
  readonly history: readonly { readonly at: string; readonly size: number }[];
}

export interface LogsReport {
  readonly logs: readonly LogSummary[];
  readonly monitor: { readonly checkedAt: string | null; readonly ok: boolean | null; readonly problems: readonly string[] } | null;
}

export interface BusinessInfo {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly keys: readonly { readonly kid: string; readonly createdAt: string; readonly revokedAt: string | null }[];
}

export interface DeviceInfo {
  readonly id: string;
  readonly label: string | null;
  readonly status: string;
  readonly suite: string | null;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

export interface ActionRecord {
  readonly at: string;
  readonly operator: string | { readonly id: string | null; readonly name: string };
  readonly action: string;
  readonly target: string | null;
}

/** A refused call: the HTTP status and the server's machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The console is served under /console/ by `parley serve`; its API beside it. */
const BASE = '/console/api/';
let csrfToken = '';

/** Dispatched on `window` when a call is refused for want of a (live) session. */
export const SESSION_LOST_EVENT = 'parley-console-session-lost';

/**
 * Remembers the session's CSRF token (sent as `x-parley-csrf` on every mutation).
 *
 * @example
 * setCsrfToken(session.csrfToken)
 */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json', ...headers } };
  if (method !== 'GET' && method !== 'HEAD') {
    (init.headers as Record<string, string>)['x-parley-csrf'] = csrfToken;
  }
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, init);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const err = (parsed ?? {}) as { code?: unknown; message?: unknown };
    if (res.status === 401 && path !== 'session' && path !== 'login' && path !== 'bootstrap') {
      window.dispatchEvent(new CustomEvent(SESSION_LOST_EVENT));
    }
    throw new ApiError(res.status, typeof err.code === 'string' ? err.code : `http_${res.status}`, typeof err.message === 'string' ? err.message : res.statusText);
  }
  return parsed as T;
}

const q = (s: string) => encodeURIComponent(s);

/**
 * The console API, one function per endpoint.
 *
 * @example
 * const { bootstrapped } = await api.status()
 */
export const api = {
  status: () => call<{ bootstrapped: boolean }>('GET', 'status'),
  bootstrap: (adminToken: string, name: string, password: string) =>
    call<{ operator: Operator }>('POST', 'bootstrap', { name, password }, { authorization: `Bearer ${adminToken}` }),
  login: (name: string, password: string) => call<Session>('POST', 'login', { name, password }),
  session: () => call<Session>('GET', 'session'),
  logout: () => call<void>('POST', 'logout'),
  delivery: (hours: number) => call<DeliveryReport>('GET', `delivery?hours=${hours}`),
  routes: (limit: number) => call<{ routes: RouteSummary[] }>('GET', `routes?limit=${limit}`),
  route: (messageId: string) => call<RouteDetail>('GET', `routes/${q(messageId)}`),
  verification: () => call<VerificationReport>('GET', 'verification'),
  decryptFailures: (hours: number) => call<DecryptFailureReport>('GET', `decrypt-failures?hours=${hours}`),
  logs: () => call<LogsReport>('GET', 'logs'),
  businesses: () => call<{ businesses: BusinessInfo[] }>('GET', 'businesses'),
  devices: (identityId: string) => call<{ identityId: string; devices: DeviceInfo[] }>('GET', `identities/${q(identityId)}/devices`),
  revokeDevice: (deviceId: string) => call<{ device: { id: string; status: string } }>('POST', `devices/${q(deviceId)}/revoke`),
  operators: () => call<{ operators: Operator[] }>('GET', 'operators'),
  createOperator: (name: string, password: string, role: Role) => call<{ operator: Operator }>('POST', 'operators', { name, password, role }),
  disableOperator: (id: string) => call<unknown>('POST', `operators/${q(id)}/disable`),
  actions: (limit: number) => call<{ actions: ActionRecord[] }>('GET', `actions?limit=${limit}`),
};

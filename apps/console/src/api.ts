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

// The read views' shapes are the server's own (one definition, in @parley/core).
import type {
  DeliveryView as DeliveryReport,
  RouteSummary,
  RouteDetail,
  VerificationView as VerificationReport,
  DecryptFailuresView as DecryptFailureReport,
  LogsView as LogsReport,
} from '@parley/core';
export type {
  DeliveryView as DeliveryReport,
  RouteSummary,
  RouteDetail,
  VerificationView as VerificationReport,
  DecryptFailuresView as DecryptFailureReport,
  LogView as LogSummary,
  LogsView as LogsReport,
} from '@parley/core';

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

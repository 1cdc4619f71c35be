/**
 * One authenticated call to a Parley server's operator API (`Authorization: Bearer <admin
 * token>`), shared by `parley admin` and `parley escrow`: the JSON answer, or the server's
 * error as an `ApiError` (status, code, message), or a `TransportError` when it cannot be
 * reached or answers something that is not the API's.
 */
import { ApiError, TransportError } from '@parley/client';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Calls `method path` on `server` with the operator's `token` and an optional JSON body.
 *
 * @example
 * const view = await callAdminApi('https://parley.example', token, 'GET', '/v1/admin/businesses/example-bank');
 */
export async function callAdminApi(server: string, token: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(server + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new TransportError(`cannot reach ${server}`, { cause });
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch (cause) {
    throw new TransportError(`server answered ${res.status} without JSON`, { cause });
  }
  if (!res.ok) {
    const error = isRecord(json) && isRecord(json['error']) ? json['error'] : undefined;
    if (!error || typeof error['code'] !== 'string' || typeof error['message'] !== 'string') throw new TransportError(`server answered ${res.status} with an unknown error body`);
    throw new ApiError(res.status, error['code'], error['message']);
  }
  return json;
}

/**
 * Rethrows `error` from a call made with the admin token to an endpoint that also takes a
 * device session (key lookup, evidence): there a refused admin token reads as a bad
 * session (`session_invalid`). On a 401, asks an admin-only endpoint what it thinks of
 * the token and throws its answer instead (`admin_token_invalid`, `admin_disabled`).
 *
 * @example
 * const bundle = await api.evidence(id).catch((e: unknown) => explainRefusedAdminToken(server, token, e));
 */
export async function explainRefusedAdminToken(server: string, token: string, error: unknown): Promise<never> {
  if (error instanceof ApiError && error.status === 401) {
    let refusal: ApiError | undefined;
    try {
      await callAdminApi(server, token, 'GET', '/v1/admin/businesses?limit=1', undefined, 10_000);
    } catch (probe) {
      if (probe instanceof ApiError && (probe.status === 401 || probe.status === 403)) refusal = probe;
    }
    if (refusal) throw new ApiError(refusal.status, refusal.code, `the server refused the admin token (${refusal.message})`);
  }
  throw error;
}

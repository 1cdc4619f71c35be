/** `parley log list`: the server's transparency logs, as `GET /v1/logs` lists them (strictly checked). */
import { VerifyError, httpGet, isRecord, isString } from './log-http.js';

/**
 * One log as `GET /v1/logs` lists it.
 *
 * @example
 * const { logs } = await fetchLogList('http://127.0.0.1:8080');
 */
export interface ListedLog {
  readonly name: string;
  readonly origin: string;
  readonly prefix: string;
  readonly verifierKey: string;
}

/** Strict shape check of the `/v1/logs` body (exactly the four fields per log). */
function parseLogList(body: unknown): ListedLog[] {
  const bad = () => new VerifyError('bad_response', 'GET /v1/logs did not return { logs: [{ name, origin, prefix, verifierKey }] }');
  if (!isRecord(body) || !Array.isArray(body['logs']) || Object.keys(body).length !== 1) throw bad();
  return body['logs'].map((l: unknown) => {
    if (!isRecord(l) || Object.keys(l).length !== 4) throw bad();
    const { name, origin, prefix, verifierKey } = l;
    if (!isString(name) || !isString(origin) || !isString(prefix) || !isString(verifierKey) || !prefix.startsWith('/')) throw bad();
    return { name, origin, prefix, verifierKey };
  });
}

/**
 * Fetches the server's list of transparency logs.
 *
 * @example
 * const logs = await fetchLogList('http://127.0.0.1:8080');
 */
export async function fetchLogList(url: string): Promise<ListedLog[]> {
  const base = url.replace(/\/+$/, '');
  const res = await httpGet(`${base}/v1/logs`, 1 << 20);
  if (res.status !== 200) throw new VerifyError('bad_response', `GET /v1/logs answered ${res.status}`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(res.body));
  } catch {
    throw new VerifyError('bad_response', 'GET /v1/logs did not return JSON');
  }
  return parseLogList(json);
}

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
  /** Every key signing checkpoints now (the current key, then the next key during a rotation); absent from older servers. */
  readonly verifierKeys?: readonly string[];
}

/** Strict shape check of the `/v1/logs` body (exactly these fields per log; `verifierKeys` from servers that rotate keys). */
function parseLogList(body: unknown): ListedLog[] {
  const bad = () => new VerifyError('bad_response', 'GET /v1/logs did not return { logs: [{ name, origin, prefix, verifierKey, verifierKeys }] }');
  if (!isRecord(body) || !Array.isArray(body['logs']) || Object.keys(body).length !== 1) throw bad();
  return body['logs'].map((l: unknown) => {
    if (!isRecord(l) || Object.keys(l).length !== (l['verifierKeys'] === undefined ? 4 : 5)) throw bad();
    const { name, origin, prefix, verifierKey, verifierKeys } = l;
    if (!isString(name) || !isString(origin) || !isString(prefix) || !isString(verifierKey) || !prefix.startsWith('/')) throw bad();
    if (verifierKeys === undefined) return { name, origin, prefix, verifierKey };
    if (!Array.isArray(verifierKeys) || verifierKeys.length < 1 || verifierKeys.length > 2 || !verifierKeys.every(isString) || verifierKeys[0] !== verifierKey) throw bad();
    return { name, origin, prefix, verifierKey, verifierKeys: verifierKeys as string[] };
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

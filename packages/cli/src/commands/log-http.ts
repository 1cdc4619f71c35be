/**
 * What `parley log` reads from a server: bounded HTTP GETs, and the named reasons a log
 * (or the server in front of it) fails a check.
 */
import { CliError } from '../errors.js';

/**
 * Why a verification failed.
 *
 * @example
 * if (result.failure?.reason === 'fork') alert('the log showed two different histories');
 */
export type VerifyFailureReason =
  | 'unreachable'
  | 'bad_response'
  | 'unknown_log'
  | 'unannounced_key_change'
  | 'bad_signature'
  | 'bad_checkpoint'
  | 'wrong_origin'
  | 'rollback'
  | 'fork'
  | 'bad_tile'
  | 'bad_entry_bundle'
  | 'bad_proof'
  | 'bad_state';

/**
 * A failed check of `parley log`, with its named reason (turned into a failed result, never
 * thrown out of `verifyLog`).
 *
 * @example
 * throw new VerifyError('rollback', 'the log shrank');
 */
export class VerifyError extends CliError {
  readonly code = 'log_check_failed';
  constructor(
    readonly reason: VerifyFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Whether `value` is a plain JSON object.
 *
 * @example
 * if (!isRecord(body)) throw bad();
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether `v` is a non-empty string of at most 4,096 characters (a name, key, origin or URL).
 *
 * @example
 * if (!isString(l['origin'])) throw bad();
 */
export const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 4096;

/**
 * GETs `url` (30 s timeout) and reads at most `maxBytes` of its body; `unreachable` or
 * `bad_response` otherwise.
 *
 * @example
 * const res = await httpGet(`${prefix}/checkpoint`, NOTE_MAX_BYTES);
 */
export async function httpGet(url: string, maxBytes: number): Promise<{ status: number; body: Uint8Array }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(30_000), headers: { 'accept-encoding': 'gzip, identity' } });
  } catch (error) {
    throw new VerifyError('unreachable', `cannot fetch ${url}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > maxBytes) throw new VerifyError('bad_response', `${url} returned more than ${maxBytes} bytes`);
  return { status: res.status, body };
}

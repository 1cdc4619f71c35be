/**
 * The data key: 256 random bits that seal the gateway's records and pending message bodies.
 * It is stored only wrapped by the business's `KeyWrapper`, next to the wrapper's id.
 */
import { randomBytes } from 'node:crypto';
import type { Sql } from '@parley/server';
import { GatewayError } from '../errors.js';
import { getSetting, putSettings } from '../storage/settings.js';
import type { KeyWrapper } from './key-wrapper.js';

const CONTEXT = 'gateway/data-key';

/**
 * Makes the data key at `gateway init` and stores it wrapped.
 *
 * @example
 * const dataKey = await createDataKey(tx, wrapper)
 */
export async function createDataKey(sql: Sql, wrapper: KeyWrapper): Promise<Uint8Array> {
  const key = new Uint8Array(randomBytes(32));
  const wrapped = await wrapper.wrap(key, CONTEXT);
  await putSettings(sql, { data_key: Buffer.from(wrapped).toString('base64'), data_key_wrapper: wrapper.id });
  return key;
}

/**
 * Unwraps the data key at start; `not_initialized` before `gateway init`, `wrong_key` for another key.
 *
 * @example
 * const dataKey = await loadDataKey(db, await KeyFileWrapper.load(keyFile))
 */
export async function loadDataKey(sql: Sql, wrapper: KeyWrapper): Promise<Uint8Array> {
  const wrapped = await getSetting(sql, 'data_key');
  if (wrapped === undefined) throw new GatewayError('not_initialized', 'this database holds no gateway: run `parley gateway init` first');
  const wrapperId = await getSetting(sql, 'data_key_wrapper');
  if (wrapperId !== wrapper.id) throw new GatewayError('wrong_key', `the data key is wrapped by ${wrapperId ?? 'another key'}, not by the key given (${wrapper.id})`);
  return wrapper.unwrap(new Uint8Array(Buffer.from(wrapped, 'base64')), CONTEXT);
}

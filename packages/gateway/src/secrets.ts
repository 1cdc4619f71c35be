/**
 * Secrets the gateway keeps sealed in its own store (`DbKeyStore`, under the data key):
 * the business's enrollment private key (JWK) and the webhook signing secrets (newest
 * first; during a rotation webhooks carry a signature under each).
 */
import { fromUtf8, utf8 } from '@parley/core';
import type { KeyStore } from '@parley/client';
import { GatewayError } from './errors.js';
import { newWebhookSecret } from './webhooks/standard-webhooks.js';

const ENROLLMENT_KEY = 'gateway/enrollment-key';
const WEBHOOK_SECRETS = 'gateway/webhook-secrets';

/** The business's enrollment signing key (Ed25519 private JWK) and its `kid`. */
export interface EnrollmentKeyRecord {
  readonly kid: string;
  readonly privateJwk: { kty: string; crv: string; x: string; d: string };
}

/**
 * @example
 * const { kid, privateJwk } = await readEnrollmentKey(store)
 */
export async function readEnrollmentKey(store: KeyStore): Promise<EnrollmentKeyRecord> {
  const bytes = await store.get(ENROLLMENT_KEY);
  if (!bytes) throw new GatewayError('not_initialized', 'no enrollment key: run `parley gateway init`');
  return JSON.parse(fromUtf8(bytes)) as EnrollmentKeyRecord;
}

/**
 * @example
 * await writeEnrollmentKey(store, { kid, privateJwk })
 */
export async function writeEnrollmentKey(store: KeyStore, record: EnrollmentKeyRecord): Promise<void> {
  await store.write([{ op: 'put', name: ENROLLMENT_KEY, value: utf8(JSON.stringify(record)) }]);
}

/**
 * The webhook signing secrets, newest first (empty before any was made).
 *
 * @example
 * const [current] = await readWebhookSecrets(store)
 */
export async function readWebhookSecrets(store: KeyStore): Promise<string[]> {
  const bytes = await store.get(WEBHOOK_SECRETS);
  return bytes ? (JSON.parse(fromUtf8(bytes)) as string[]) : [];
}

/**
 * @example
 * await writeWebhookSecrets(store, [newWebhookSecret(), ...old])
 */
export async function writeWebhookSecrets(store: KeyStore, secrets: readonly string[]): Promise<void> {
  await store.write([{ op: 'put', name: WEBHOOK_SECRETS, value: utf8(JSON.stringify(secrets)) }]);
}

/**
 * Rotation: a new secret first; webhooks are then signed under every listed secret (Standard
 * Webhooks allows several signatures) until `retireOldWebhookSecrets` drops the old ones.
 *
 * @example
 * const fresh = await rotateWebhookSecret(store) // give `fresh` to the receiver, then retire the old ones
 */
export async function rotateWebhookSecret(store: KeyStore): Promise<string> {
  const fresh = newWebhookSecret();
  await writeWebhookSecrets(store, [fresh, ...(await readWebhookSecrets(store))].slice(0, 5));
  return fresh;
}

/**
 * Keeps only the newest secret; returns how many were dropped.
 *
 * @example
 * await retireOldWebhookSecrets(store)
 */
export async function retireOldWebhookSecrets(store: KeyStore): Promise<number> {
  const all = await readWebhookSecrets(store);
  if (all.length <= 1) return 0;
  await writeWebhookSecrets(store, all.slice(0, 1));
  return all.length - 1;
}

/**
 * `parley gateway init`: makes a database the home of a business's gateway. It registers
 * the business with the Parley server (or attaches to an existing one by adding a key),
 * creates the business's enrollment key and the data key (wrapped by the business's key),
 * enrolls the sender identity — whose private keys are created here and never leave the
 * gateway's database, sealed, unless `senderSigners` hold them in an HSM (then the database
 * keeps only their public keys and references) — and makes the first webhook signing secret.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { randomBytes } from 'node:crypto';
import { Sender, issueEnrollmentToken, type DeviceSigners } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { Database } from '@parley/server';
import type { KeyWrapper } from './custody/key-wrapper.js';
import { createDataKey } from './custody/data-key.js';
import { GatewayError } from './errors.js';
import { writeEnrollmentKey, writeWebhookSecrets } from './secrets.js';
import { DbKeyStore } from './storage/db-key-store.js';
import { migrateGateway } from './storage/migrations.js';
import { getSetting, putSettings } from './storage/settings.js';
import { newWebhookSecret } from './webhooks/standard-webhooks.js';

export interface InitOptions {
  readonly db: Database;
  readonly keyWrapper: KeyWrapper;
  readonly serverUrl: string;
  readonly businessId: string;
  /** The brand customers see (default: the business id). */
  readonly businessName?: string;
  /** The Parley operator's admin token: registers the business or adds this gateway's key to it. */
  readonly adminToken: string;
  readonly fetch?: typeof fetch;
  /**
   * External signers (e.g. PKCS#11 keys from `@parley/custody`) for the sender's identity key
   * and MLS signature key; every `startGateway` on this database must then pass the same ones.
   */
  readonly senderSigners?: DeviceSigners;
}

export interface InitResult {
  readonly businessId: string;
  /** True when the business existed and this gateway's enrollment key was added to it. */
  readonly attached: boolean;
  readonly kid: string;
  readonly senderDeviceId: string;
  /** The first webhook signing secret (`whsec_…`): give it to the webhook receiver. Shown once. */
  readonly webhookSecret: string;
}

/**
 * @example
 * const { webhookSecret } = await initGateway({ db, keyWrapper, serverUrl, businessId: 'example-bank', adminToken })
 */
export async function initGateway(options: InitOptions): Promise<InitResult> {
  const { db } = options;
  const fetchImpl = options.fetch ?? fetch;
  await migrateGateway(db);
  if (await getSetting(db, 'initialized_at')) throw new GatewayError('already_initialized', 'this database already holds a gateway');
  // A run that stopped half way left no usable gateway: start over.
  await db.transaction(async (tx) => {
    await tx.query('DELETE FROM gateway_records');
    await tx.query('DELETE FROM gateway_settings');
  });
  const kid = `gw-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(publicKey);
  const publicJwk = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! };
  const name = options.businessName ?? options.businessId;
  const attached = await registerOrAttach(fetchImpl, options, name, kid, publicJwk);

  const dataKey = await createDataKey(db, options.keyWrapper);
  const store = new DbKeyStore(db, dataKey);
  const privateJwk = await exportJWK(privateKey);
  await writeEnrollmentKey(store, { kid, privateJwk: { kty: privateJwk.kty!, crv: privateJwk.crv!, x: privateJwk.x!, d: privateJwk.d! } });
  const webhookSecret = newWebhookSecret();
  await writeWebhookSecrets(store, [webhookSecret]);
  await putSettings(db, { business_id: options.businessId, business_name: name, server_url: options.serverUrl, enrollment_kid: kid });

  const enrollmentToken = await issueEnrollmentToken(privateKey, kid, { businessId: options.businessId, subject: 'gateway', kind: 'sender', name });
  const sender = await Sender.enroll({
    serverUrl: options.serverUrl,
    enrollmentToken,
    store,
    label: 'gateway',
    ...nodeRuntime,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.senderSigners ? { signers: options.senderSigners } : {}),
  });
  const senderDeviceId = sender.device.deviceId;
  await sender.close();
  await putSettings(db, { sender_device_id: senderDeviceId, initialized_at: new Date().toISOString() });
  return { businessId: options.businessId, attached, kid, senderDeviceId, webhookSecret };
}

async function registerOrAttach(
  fetchImpl: typeof fetch,
  options: InitOptions,
  name: string,
  kid: string,
  jwk: { kty: string; crv: string; x: string },
): Promise<boolean> {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.adminToken}` };
  const base = options.serverUrl.replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetchImpl(`${base}/v1/admin/businesses`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ id: options.businessId, name, enrollmentKeys: [{ kid, jwk }] }),
    });
  } catch (error) {
    throw new GatewayError('server_unreachable', `the Parley server at ${base} did not answer`, { cause: error });
  }
  if (res.status === 201) return false;
  const code = await errorCode(res);
  if (res.status !== 409 || code !== 'business_exists') {
    throw new GatewayError('business_registration_failed', `the server refused to register the business (${res.status} ${code ?? ''})`.trim());
  }
  const added = await fetchImpl(`${base}/v1/admin/businesses/${encodeURIComponent(options.businessId)}/keys`, { method: 'POST', headers, body: JSON.stringify({ kid, jwk }) });
  if (added.status !== 201) {
    throw new GatewayError('business_registration_failed', `the server refused this gateway's enrollment key (${added.status} ${(await errorCode(added)) ?? ''})`.trim());
  }
  return true;
}

async function errorCode(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

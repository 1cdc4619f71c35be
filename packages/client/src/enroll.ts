/**
 * A device's first run and every later one, up to the point where a `Device`
 * object exists. Enrollment generates the identity key, the MLS signature key
 * and a batch of KeyPackages, persists all of them (private halves first: a
 * crash after the server accepted must not lose them), then registers the
 * public halves with the enrollment token and a registration proof binding
 * the token, the device id and both keys.
 */
import { DEVICE_ID_PATTERN, fromBase64, fromUtf8, identityIdOf, newDeviceId, signRegistrationProof, toBase64, toBase64Url } from '@parley/core';
import { suitesMessage } from '@parley/core/keylog';
import { CLASSIC_SUITE, SUITES, loadSuite, type MlsSuite, type SuiteName } from '@parley/core/mls';
import { ApiClient } from './api-client.js';
import type { EnrollOptions, OpenOptions } from './device-options.js';
import { assembleDevice, type DeviceParts } from './device-parts.js';
import { newKeyring, openKeyring, type DeviceKeyring } from './device-signers.js';
import { assertRuntime } from './runtime-check.js';
import { DeviceRecordError, EnrollmentTokenError } from './errors.js';
import { generateKeyPackages, type GeneratedBatch } from './key-packages.js';
import type { KeyDirectoryAnchors } from './key-transparency.js';
import { RECORDS, getJson, putJson, statedSuites, type DeviceRecordV1 } from './records.js';

/** @internal A device persisted but not yet registered: what `registerEnrollment` sends. */
export interface Enrollment {
  /** The device record; `registerEnrollment` completes it in place. */
  readonly record: DeviceRecordV1;
  /** The device's keys: the suite (wrapped for an external MLS key), identity signer, MLS key pair. */
  readonly keyring: DeviceKeyring;
  /** One batch per suite, the device's first suite first (each with its last-resort KeyPackage). */
  readonly batches: readonly GeneratedBatch[];
  readonly proof: Uint8Array;
  /** The identity key's signature over the suites the device states (`suitesMessage`, seq 0). */
  readonly suitesProof: Uint8Array;
}

/**
 * The suites a device runs: the classic suite first (every device has it), then those the app
 * supports (`options.suites`, default every suite Parley offers) and those its record stated.
 */
export function deviceSuiteNames(wanted: readonly SuiteName[] | undefined, recorded: readonly string[] = []): SuiteName[] {
  const names = [CLASSIC_SUITE, ...(wanted ?? SUITES), ...recorded].filter((name): name is SuiteName => (SUITES as readonly string[]).includes(name));
  return [...new Set(names)];
}

/** Loads the named suites on the device's crypto provider. */
export async function loadDeviceSuites(names: readonly SuiteName[], crypto: EnrollOptions['crypto']): Promise<MlsSuite[]> {
  return Promise.all(names.map((name) => loadSuite(name, crypto)));
}

/** The issuer and subject of an enrollment token (its signature is the server's to check). */
function decodeTokenSubject(token: string): { iss: string; sub: string } {
  const part = token.split('.')[1];
  if (!part) throw new EnrollmentTokenError('enrollment token is not a JWT');
  let payload: { iss?: unknown; sub?: unknown };
  try {
    payload = JSON.parse(fromUtf8(fromBase64(part))) as { iss?: unknown; sub?: unknown };
  } catch {
    throw new EnrollmentTokenError('enrollment token is not a JWT');
  }
  if (typeof payload.iss !== 'string' || typeof payload.sub !== 'string') {
    throw new EnrollmentTokenError('enrollment token lacks iss or sub');
  }
  return { iss: payload.iss, sub: payload.sub };
}

/** Trust on first use: the key-directory keys as the server states them now. */
async function fetchAnchors(api: ApiClient): Promise<KeyDirectoryAnchors> {
  const info = await api.keyDirectoryInfo();
  return { log: info.log, origin: info.origin, logVerifierKey: info.verifierKey, vrfPublicKey: info.vrfPublicKey, prefix: `/logs/${info.log}` };
}

/** @internal Generates and persists a new device's keys and KeyPackages (nothing is sent but the anchors' fetch). */
export async function prepareEnrollment(options: EnrollOptions): Promise<Enrollment> {
  const { iss, sub } = decodeTokenSubject(options.enrollmentToken);
  const identityId = identityIdOf(iss, sub);
  const suiteNames = deviceSuiteNames(options.suites);
  const suites = await loadDeviceSuites(suiteNames, options.crypto);
  const existing = await getJson<DeviceRecordV1>(options.store, RECORDS.device);
  if (existing?.registered) throw new DeviceRecordError('device_exists', 'this store already holds a registered device');
  const anchors =
    options.keyDirectory ?? (await fetchAnchors(new ApiClient({ serverUrl: options.serverUrl, ...(options.fetch ? { fetch: options.fetch } : {}) })));
  const deviceId = newDeviceId();
  // Keys from the external signers where given (the record then keeps only references), else generated.
  const { keyring, fields } = await newKeyring(suites, options.signers);
  const record: DeviceRecordV1 = {
    v: 1,
    deviceId,
    identityId,
    kind: undefined,
    label: options.label,
    serverUrl: options.serverUrl,
    suite: keyring.suite.name,
    suites: suiteNames,
    suitesSeq: 0,
    ...fields,
    registered: false,
    anchors,
  };
  const now = options.now?.() ?? new Date();
  const batches: GeneratedBatch[] = [];
  for (const suite of keyring.suites.values()) {
    batches.push(
      await generateKeyPackages(suite, { identityId, deviceId }, keyring.signatureKeys, options.keyPackageBatch ?? 50, true, now, options.keyPackageLifetimeMs),
    );
  }
  // Private halves first: a crash after the server accepted must not lose them.
  await options.store.write([putJson(RECORDS.device, record), ...batches.flatMap((batch) => batch.ops)]);
  const proof = await signRegistrationProof(keyring.identity, {
    enrollmentToken: options.enrollmentToken,
    deviceId,
    identityKey: keyring.identity.publicKey,
    signatureKey: keyring.signatureKeys.publicKey,
  });
  const suitesProof = await keyring.identity.sign(
    suitesMessage({ deviceId, identityKey: toBase64Url(keyring.identity.publicKey), seq: 0, suites: suiteNames }),
  );
  return { record, keyring, batches, proof, suitesProof };
}

/** @internal Registers the public halves with the server, then marks the record registered (in place). */
export async function registerEnrollment(api: Pick<ApiClient, 'registerDevice'>, options: EnrollOptions, enrollment: Enrollment): Promise<void> {
  const { record, keyring, batches, proof, suitesProof } = enrollment;
  const [first, ...others] = batches;
  const res = await api.registerDevice({
    enrollmentToken: options.enrollmentToken,
    deviceId: record.deviceId,
    identityKey: record.identityPublicKey,
    signatureKey: record.signaturePublicKey,
    suite: keyring.suite.name,
    suites: [...keyring.suites.keys()],
    suitesProof: toBase64(suitesProof),
    ...(options.label ? { label: options.label } : {}),
    keyPackages: batches.flatMap((batch) => batch.oneTime),
    lastResortKeyPackage: first!.lastResort!,
    ...(others.length > 0 ? { lastResortKeyPackages: others.map((batch) => batch.lastResort!) } : {}),
    proof: toBase64(proof),
  });
  record.kind = res.kind;
  record.registered = true;
  record.status = res.status;
  await options.store.write([putJson(RECORDS.device, record)]);
}

/** @internal The registered device record in `options.store`, and its keys (with the signers it requires). */
export async function openDeviceRecord(options: OpenOptions): Promise<{ record: DeviceRecordV1; keyring: DeviceKeyring }> {
  const record = await getJson<DeviceRecordV1>(options.store, RECORDS.device);
  if (!record || !record.registered) throw new DeviceRecordError('device_not_enrolled', 'the store holds no registered device');
  if (!new RegExp(DEVICE_ID_PATTERN).test(record.deviceId)) throw new DeviceRecordError('device_record_invalid', 'stored device record is invalid');
  // The suites the record stated, and those this app version adds (stated at the next maintenance run).
  const suites = await loadDeviceSuites(deviceSuiteNames(options.suites, statedSuites(record)), options.crypto);
  return { record, keyring: await openKeyring(record, suites, options.signers) };
}

/** @internal `Device.enroll`: checks the runtime, makes and persists the keys, registers them, and checks the key log shows them. */
export async function enrollParts(options: EnrollOptions): Promise<DeviceParts> {
  assertRuntime(options);
  const enrollment = await prepareEnrollment(options);
  const parts = assembleDevice(enrollment.record, enrollment.keyring, options, options.serverUrl);
  await registerEnrollment(parts.api, options, enrollment);
  // The new key must be in the log, where the server says it put it.
  await parts.keys.checkOwnKeys();
  return parts;
}

/** @internal `Device.open`: checks the runtime, restores the device record and its conversations from the store. */
export async function openParts(options: OpenOptions): Promise<DeviceParts> {
  assertRuntime(options);
  const { record, keyring } = await openDeviceRecord(options);
  const parts = assembleDevice(record, keyring, options, options.serverUrl ?? record.serverUrl);
  await parts.conversations.load(parts.store, parts.mls.authenticate);
  return parts;
}

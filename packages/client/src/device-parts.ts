/**
 * How a `Device` is put together from its modules. Each module gets only what
 * it uses; the ones that depend on each other in a cycle (the receiver releases
 * envelopes a commit unblocked; a conflicting commit waits for the receiver to
 * catch up) are joined here by callbacks.
 */
import { isParleyError, type Ed25519Signer, type Envelope } from '@parley/core';
import type { StreamCrypto } from '@parley/core/media';
import { identityKeysAt } from '@parley/core/keylog';
import { ApiClient } from './api-client.js';
import { KeyLogAuthenticator } from './authenticator.js';
import { ContentPolicyGate } from './content-policy-gate.js';
import { Committer } from './commits.js';
import { Connection } from './connection.js';
import { ConversationRegistry } from './conversations.js';
import { DeviceBackups } from './device-backups.js';
import { DiagnosticsReporter } from './diagnostics.js';
import { DeviceKeys } from './device-keys.js';
import type { DeviceOptions } from './device-options.js';
import type { DeviceKeyring } from './device-signers.js';
import { DeviceRecordError } from './errors.js';
import { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import { SuiteStatement } from './suite-statement.js';
import { KeyPackageStock } from './key-packages.js';
import type { KeyStore } from './key-store.js';
import { KeyLogFollower } from './key-log-follower.js';
import { KeyLogVerifier } from './key-transparency.js';
import { resumeRotation, rotateKeys, type KeyRotationContext } from './key-rotation.js';
import { LiveKeyring } from './live-keyring.js';
import { Maintenance } from './maintenance.js';
import { Membership } from './membership.js';
import type { MlsSelf } from './mls-self.js';
import { Outbox } from './outbox.js';
import { ReceiptOutbox } from './receipts.js';
import { Receiver } from './receiver.js';
import { signCommitment } from './audit-sender.js';
import type { SendContext } from './send-message.js';
import { statedSuites, type DeviceRecordV1 } from './records.js';
import { RevocationHandler } from './revocation.js';
import { SessionManager } from './session.js';

/** @internal Everything a `Device` delegates to. */
export interface DeviceParts {
  readonly record: DeviceRecordV1;
  /** Content policies (DLP) on send and receive. */
  readonly contentPolicy: ContentPolicyGate;
  /** AES-256-GCM and SHA-256 for attachments (`DeviceOptions.mediaCrypto`; undefined: WebCrypto). */
  readonly mediaCrypto: StreamCrypto | undefined;
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  /** Signs with the device's identity key (kept in the store, or by an external signer). */
  readonly identity: Ed25519Signer;
  readonly api: ApiClient;
  readonly hub: EventHub<DeviceEvent>;
  readonly verifier: KeyLogVerifier;
  readonly keys: DeviceKeys;
  readonly conversations: ConversationRegistry;
  readonly connection: Connection;
  readonly outbox: Outbox;
  readonly committer: Committer;
  readonly membership: Membership;
  readonly receiver: Receiver;
  readonly receipts: ReceiptOutbox;
  readonly keyPackages: KeyPackageStock;
  /** Self-updates and KeyPackage rotation, on connect and on a timer (maintenance.ts). */
  readonly maintenance: Maintenance;
  /** The end of a revoked device (revocation.ts). */
  readonly revocation: RevocationHandler;
  /** Encrypted backups (`device.backups`), automatic ones run by maintenance. */
  readonly backups: DeviceBackups;
  /** What sending a message needs (send-message.ts, web-link.ts), business commitments signed with this device's identity key. */
  readonly sending: SendContext;
  /** Metadata-only reports for the operator (undefined with `diagnostics: false`). */
  readonly diagnostics: DiagnosticsReporter | undefined;
  now(): Date;
  /** Fetches and processes the whole mailbox over HTTP. */
  sync(): Promise<void>;
}

/** @internal Builds the parts of a device from its record (its conversations are loaded afterwards: `conversations.load`). */
export function assembleDevice(record: DeviceRecordV1, keyring: DeviceKeyring, options: DeviceOptions, serverUrl: string): DeviceParts {
  const store = options.store;
  const now = () => options.now?.() ?? new Date();
  const hub = new EventHub<DeviceEvent>();
  const conversations = new ConversationRegistry();
  const self = { identityId: record.identityId, deviceId: record.deviceId };
  // For an external MLS key, `privateKey` is its reference and `suite` sends its signatures to the signer.
  // The keys live in `ring`: a rotation replaces them while the device runs (key-rotation.ts).
  const ring = new LiveKeyring(keyring);
  const identity = ring.identity;
  const api = new ApiClient({ serverUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  // Joined below: a verified revocation notice stops the parts and wipes the store.
  let revocation: RevocationHandler | undefined;
  const session = new SessionManager(api, record.deviceId, identity, Date.now, (error) => revocation!.onSessionRefused(error));
  api.useSession((refresh) => session.get(refresh));
  if (!record.anchors) throw new DeviceRecordError('device_record_invalid', 'the device record holds no key-directory anchors');
  const verifier = new KeyLogVerifier(api, store, record.anchors);
  let follower: KeyLogFollower | undefined;
  const authenticator = new KeyLogAuthenticator(
    verifier,
    // A business sender follows the whole key log (so no revocation can be hidden from it); other devices verify lookups.
    () => (record.kind === 'sender' ? (follower ??= new KeyLogFollower(api, store, verifier)) : undefined),
    { ...self, signatureKeys: () => ring.signatureKeys() },
    (identityId, error) => hub.emit({ type: 'key-transparency-error', identityId, code: isParleyError(error) ? error.code : 'key_log_unavailable' }),
  );
  const mls: MlsSelf = ring.mlsSelf(self, authenticator.authenticate);
  // Joined below: a rotation needs the receiver and the outboxes.
  let rotation: KeyRotationContext | undefined;
  const diagnostics = options.diagnostics === false ? undefined : new DiagnosticsReporter({ api, hub, identityId: record.identityId, kind: () => record.kind });
  const keys = new DeviceKeys({
    api,
    store,
    verifier,
    authenticator,
    hub,
    ...self,
    get identityKey() {
      return ring.current.identity.publicKey;
    },
    identity,
    get signatureKey() {
      return ring.current.signatureKeys.publicKey;
    },
    statedSuites: () => statedSuites(record),
    rotate: (rotateOptions) => rotateKeys(rotation!, rotateOptions),
    resumeRotation: (signers) => resumeRotation(rotation!, signers),
    onVerified: (identityId, method) => diagnostics?.verified(identityId, method),
  });
  const receipts = new ReceiptOutbox(api, store, identity, self, (receipt, code) =>
    hub.emit({ type: 'receipt-rejected', messageId: receipt.messageId, status: receipt.status, code }),
  );
  // Joined below: the connection feeds the receiver, the outbox submits over the connection.
  let receiver: Receiver | undefined;
  const contentPolicy = new ContentPolicyGate(
    {
      self: { identityId: record.identityId, get kind() { return record.kind; } },
      members: (id) => conversations.require(id).group.members().map((m) => m.member),
      deviceKind: async (member) => (await authenticator.keysOf(member.identityId)).devices.get(member.deviceId)?.kind,
    },
    options.contentPolicies,
  );
  let keyPackages: KeyPackageStock | undefined;
  let maintenance: Maintenance | undefined;
  const connection = new Connection({
    serverUrl: api.serverUrl,
    webSocket: options.webSocket,
    token: (refresh) => session.get(refresh),
    onEnvelopes: (envelopes: readonly Envelope[]) => receiver!.enqueue(envelopes),
    onKeyPackagesLow: () => void keyPackages?.replenish(false).catch(() => {}),
    onStateChange: (online) => {
      hub.emit({ type: 'connection', online });
      maintenance?.onConnection(online);
      diagnostics?.onConnection(online);
    },
  });
  const outbox = new Outbox({ store, api, channel: () => connection.channel });
  const sync = async (): Promise<void> => {
    let after = '0';
    for (;;) {
      const res = await api.mailbox(100, after);
      receiver!.enqueue(res.envelopes);
      await receiver!.idle();
      await receiver!.flushAcks();
      const last = res.envelopes[res.envelopes.length - 1];
      if (!res.more || !last) break;
      after = last.id;
    }
  };
  const committer = new Committer({
    store,
    mls,
    conversations,
    hub,
    submit: (request) => outbox.submit(request),
    catchUp: sync,
    onAdopted: (id) => receiver!.releaseHeld(id),
  });
  const membership = new Membership({
    store,
    mls,
    api,
    authenticator,
    conversations,
    committer,
    now,
    ...(options.trustCheckIntervalMs === undefined ? {} : { trustCheckIntervalMs: options.trustCheckIntervalMs }),
    // The kind is known once the device is registered (enroll sets it after assembly).
    addsCustomerDevices: () => record.kind === 'sender' || record.kind === 'agent' || record.kind === 'bot',
  });
  receiver = new Receiver({
    store,
    mls,
    conversations,
    api,
    hub,
    receipts,
    recoveryDelayMs: options.recoveryDelayMs ?? 3000,
    now,
    submit: (request) => outbox.submit(request),
    ackOverSocket: (ids) => connection.ack(ids),
    contentPolicy,
    identityKeyOf: async (identityId, deviceId, time, fresh) => {
      const device = (await authenticator.keysOf(identityId, fresh)).devices.get(deviceId);
      return device ? identityKeysAt(device, time) : [];
    },
  });
  const suites = new SuiteStatement({
    store,
    record,
    ring,
    mls,
    api,
    hub,
    now,
    ...(options.keyPackageBatch === undefined ? {} : { batchSize: options.keyPackageBatch }),
    ...(options.keyPackageLifetimeMs === undefined ? {} : { lifetimeMs: options.keyPackageLifetimeMs }),
  });
  keyPackages = new KeyPackageStock({
    store,
    mls,
    api,
    hub,
    now,
    statedSuites: () => suites.stated(),
    ...(options.keyPackageBatch === undefined ? {} : { batchSize: options.keyPackageBatch }),
    ...(options.keyPackageLifetimeMs === undefined ? {} : { lifetimeMs: options.keyPackageLifetimeMs }),
    ...(options.keyPackageRotationMs === undefined ? {} : { rotateAfterMs: options.keyPackageRotationMs }),
    ...(options.keyPackageGraceMs === undefined ? {} : { graceMs: options.keyPackageGraceMs }),
  });
  const backups = new DeviceBackups({ store, api, record, hub, now });
  maintenance = new Maintenance({
    backups,
    suites,
    store,
    conversations,
    committer,
    hub,
    keyPackages,
    now,
    ...(options.selfUpdateIntervalMs === undefined ? {} : { selfUpdateIntervalMs: options.selfUpdateIntervalMs }),
  });
  rotation = {
    record,
    ring,
    store,
    api,
    authenticator,
    hub,
    conversations,
    receiver,
    drain: async () => {
      await outbox.flush();
      await receipts.flush();
    },
    sync,
    keyPackageBatch: options.keyPackageBatch ?? 50,
    ...(options.keyPackageLifetimeMs === undefined ? {} : { keyPackageLifetimeMs: options.keyPackageLifetimeMs }),
    now,
  };
  revocation = new RevocationHandler({
    store,
    verifier,
    hub,
    ...self,
    identityKey: () => ring.current.identity.publicKey,
    stop: async () => {
      void maintenance!.stop();
      diagnostics?.close();
      outbox.close();
      receiver!.close();
      // Not awaited: a pass under way may be waiting for the very session this refusal ends.
      void receipts.close();
      await connection.close();
      // Let work already under way settle before the wipe, without waiting on the network.
      await Promise.race([receiver!.idle().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000))]);
    },
  });
  const sending: SendContext = {
    store,
    mls,
    conversations,
    outbox,
    membership,
    now,
    signCommitment: (message) => signCommitment(mls.member, identity, message),
  };
  return {
    record,
    store,
    sending,
    contentPolicy,
    mediaCrypto: options.mediaCrypto,
    mls,
    identity,
    api,
    hub,
    verifier,
    keys,
    conversations,
    connection,
    outbox,
    committer,
    membership,
    receiver,
    receipts,
    keyPackages,
    maintenance,
    revocation,
    backups,
    diagnostics,
    now,
    sync,
  };
}

/** @internal What a device starts once connected: interrupted sends, then interrupted commits (idempotent on the server); KeyPackages; own-key checks; a rotation to resume; receipts. */
export function startConnectedWork(parts: DeviceParts): void {
  void (async () => {
    await parts.outbox.flush();
    await parts.committer.recoverPending();
  })().catch(() => {});
  void parts.keyPackages.replenish(false).catch(() => {});
  void parts.keys.checkOwnKeys().catch(() => {});
  void parts.keys.resumeRotation().catch(() => {});
  parts.receipts.kick();
}

/** @internal Stops a device's parts in order: no new submissions, received work finished and acknowledged, receipts flushed, socket closed. */
export async function closeParts(parts: DeviceParts, disconnect: () => Promise<void>): Promise<void> {
  const { receiver, receipts, outbox, hub } = parts;
  // No new run; one under way ends once the outbox (closed next) refuses its retries.
  const maintenance = parts.maintenance.stop();
  parts.diagnostics?.close();
  outbox.close();
  await receiver.idle().catch(() => {});
  await receiver.flushAcks().catch(() => {});
  await receipts.close();
  await disconnect();
  await maintenance;
  receiver.close();
  hub.close();
}

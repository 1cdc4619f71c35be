/**
 * A device: its identity, its KeyPackages, its conversations and its mailbox.
 *
 * Invariants:
 * - private keys and group secrets live only in the KeyStore and in memory;
 * - state is persisted before anything that depends on it leaves the device
 *   (a ratcheted group state before the ciphertext is submitted; a new epoch
 *   only once the delivery service accepted the commit);
 * - an envelope is acknowledged only after its effect is persisted, so a crash
 *   means redelivery, and redelivery is recognised by envelope and message id.
 */
import {
  DEVICE_ID_PATTERN,
  equalBytes,
  isParleyError,
  businessOf,
  encodeContent,
  fromBase64,
  fromUtf8,
  generateIdentityKeyPair,
  identityIdOf,
  newDeviceId,
  newMessageId,
  randomBytes,
  registrationProofMessage,
  signEd25519,
  toBase64,
  toBase64Url,
  type DeviceId,
  type Envelope,
  type IdentityId,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import {
  DEFAULT_SUITE,
  commitChanges,
  createGroup,
  decodeGroup,
  encodeGroup,
  encryptApplication,
  generateSignatureKeyPair,
  inspectKeyPackage,
  loadSuite,
  type MemberRef,
  type MlsGroup,
  type MlsSuite,
  type SignatureKeyPair,
} from '@parley/core/mls';
import type { CryptoProvider } from 'ts-mls';
import { ApiClient } from './api-client.js';
import { KeyLogAuthenticator } from './authenticator.js';
import { DeviceKeys } from './device-keys.js';
import { KeyLogFollower, KeyLogVerifier, type KeyDirectoryAnchors } from './key-transparency.js';
import { ApiError, ConversationError, TransportError, isRetryable } from './errors.js';
import { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore } from './key-store.js';
import { generateKeyPackages } from './key-packages.js';
import { KeyedMutex } from './mutex.js';
import { RealtimeChannel, type WebSocketFactory, type WebSocketLike } from './realtime.js';
import {
  RECORDS,
  getJson,
  putJson,
  timeSortKey,
  type AuditedMessageV1,
  type DeviceRecordV1,
} from './records.js';
import { SessionManager } from './session.js';
import { ConversationState } from './conversation-state.js';
import { Receiver } from './receiver.js';
import { ReceiptOutbox } from './receipts.js';
import {
  commitmentHash,
  contentCommitment,
  newOpening,
  parseCommitment,
  signCommitment,
  type Commitment,
  type EvidenceBundle,
} from '@parley/core/audit';

export interface DeviceOptions {
  /** Where every secret and all state is kept. */
  readonly store: KeyStore;
  /** Crypto backing ts-mls (default: ts-mls's WebCrypto provider; Node: `nodeRuntime.crypto`). */
  readonly crypto?: CryptoProvider;
  /** WebSocket constructor (default: `globalThis.WebSocket`; Node: `nodeRuntime.webSocket`). */
  readonly webSocket?: WebSocketFactory;
  /** One-time KeyPackages generated per batch (default 50). */
  readonly keyPackageBatch?: number;
  /** How long a message from a future epoch may wait for its commit before the device resyncs (default 3 s). */
  readonly recoveryDelayMs?: number;
  /** Clock (tests). */
  readonly now?: () => Date;
  /** How often, per conversation, sending re-checks the members against the key log (default 30 s). */
  readonly trustCheckIntervalMs?: number;
  /** HTTP implementation (default `globalThis.fetch`), e.g. for proxies or certificate pinning. */
  readonly fetch?: typeof fetch;
  /**
   * The server's key-directory keys, pinned in the app (recommended). Without
   * them the device trusts what the server says at enrollment (trust on first use)
   * and holds the server to it from then on.
   */
  readonly keyDirectory?: KeyDirectoryAnchors;
}

export interface EnrollOptions extends DeviceOptions {
  readonly serverUrl: string;
  /** Short-lived, single-use JWT from the business backend. */
  readonly enrollmentToken: string;
  /** Human label shown to the owner, e.g. "phone". */
  readonly label?: string;
}

export interface OpenOptions extends DeviceOptions {
  /** Overrides the server URL stored at enrollment. */
  readonly serverUrl?: string;
}

export interface SendOptions {
  /** Message class, e.g. `otp`, `alert`, `support` (default `chat`). */
  readonly class?: string;
  /** Same key ⇒ same message: a retry never delivers twice. Default: random. */
  readonly idempotencyKey?: string;
  /**
   * Makes this a business message with audit evidence: the device signs a
   * hiding commitment naming `recipient` (an identity id) that the server
   * records in the audit log; recipients check it and sign receipts.
   */
  readonly audit?: { readonly recipient: string };
}

export interface SendResult {
  readonly conversationId: string;
  readonly messageId: string;
  readonly envelopeId: string;
  /** True when the server had already accepted this idempotency key. */
  readonly duplicate: boolean;
  /** Devices the server will deliver to. */
  readonly recipients: number;
  /** Ciphertext bytes the server stored. */
  readonly storedBytes: number;
  /** MLS epoch the message was encrypted in. */
  readonly epoch: string;
  /** For audited messages: the commitment's hash (base64url) and its audit-log index. */
  readonly audit?: { readonly commitmentHash: string; readonly index: number };
}

export interface ExportEvidenceOptions {
  /** Adds the opening and the plaintext, so the bundle proves the content (for a dispute). */
  readonly reveal?: boolean;
}

interface OutboxRecordV1 {
  v: 1;
  request: SubmitRequest;
  messageId: string;
  epoch: string;
}

interface PendingCommitV1 {
  v: 1;
  request: SubmitRequest;
  state: string;
}

function defaultWebSocket(): WebSocketFactory | undefined {
  const WS = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  return WS ? (url) => new WS(url) : undefined;
}

/** Trust on first use: the key-directory keys as the server states them now. */
async function fetchAnchors(api: ApiClient): Promise<KeyDirectoryAnchors> {
  const info = await api.keyDirectoryInfo();
  return { log: info.log, origin: info.origin, logVerifierKey: info.verifierKey, vrfPublicKey: info.vrfPublicKey, prefix: `/logs/${info.log}` };
}

function decodeTokenSubject(token: string): { iss: string; sub: string } {
  const part = token.split('.')[1];
  if (!part) throw new ConversationError('invalid_enrollment_token', 'enrollment token is not a JWT');
  let payload: { iss?: unknown; sub?: unknown };
  try {
    payload = JSON.parse(fromUtf8(fromBase64(part))) as { iss?: unknown; sub?: unknown };
  } catch {
    throw new ConversationError('invalid_enrollment_token', 'enrollment token is not a JWT');
  }
  if (typeof payload.iss !== 'string' || typeof payload.sub !== 'string') {
    throw new ConversationError('invalid_enrollment_token', 'enrollment token lacks iss or sub');
  }
  return { iss: payload.iss, sub: payload.sub };
}

/**
 * A Parley device. Create one with `Device.enroll` (first run) or `Device.open`
 * (every later run, from its store).
 *
 * @example
 * const phone = await Device.enroll({ serverUrl, enrollmentToken, store, ...nodeRuntime })
 * await phone.connect()
 * for await (const event of phone.events()) if (event.type === 'message') console.log(event.text)
 */
export class Device {
  readonly deviceId: DeviceId;
  readonly identityId: IdentityId;
  readonly api: ApiClient;

  private readonly store: KeyStore;
  private readonly suite: MlsSuite;
  private readonly record: DeviceRecordV1;
  private readonly signatureKeys: SignatureKeyPair;
  private readonly session: SessionManager;
  private readonly authenticator: KeyLogAuthenticator;
  private readonly verifier: KeyLogVerifier;
  private follower: KeyLogFollower | undefined;
  /** Keys as people handle them: safety numbers, approvals, revocation, monitoring. */
  readonly keys: DeviceKeys;
  private readonly hub = new EventHub<DeviceEvent>();
  private readonly locks = new KeyedMutex();
  private readonly conversations = new Map<string, ConversationState>();
  private readonly options: DeviceOptions;
  private realtime: RealtimeChannel | undefined;

  private readonly receiver: Receiver;
  private readonly receipts: ReceiptOutbox;
  private replenishing: Promise<void> | undefined;
  private closed = false;

  private constructor(record: DeviceRecordV1, suite: MlsSuite, options: DeviceOptions, serverUrl: string) {
    this.record = record;
    this.store = options.store;
    this.suite = suite;
    this.options = options;
    this.deviceId = record.deviceId as DeviceId;
    this.identityId = record.identityId as IdentityId;
    this.signatureKeys = { publicKey: fromBase64(record.signaturePublicKey), privateKey: fromBase64(record.signaturePrivateKey) };
    this.api = new ApiClient({ serverUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
    this.session = new SessionManager(this.api, record.deviceId, fromBase64(record.identityPrivateKey));
    this.api.useSession((refresh) => this.session.get(refresh));
    if (!record.anchors) throw new ConversationError('device_record_invalid', 'the device record holds no key-directory anchors');
    this.verifier = new KeyLogVerifier(this.api, this.store, record.anchors);
    this.authenticator = new KeyLogAuthenticator(
      this.verifier,
      () => this.logFollower(),
      { deviceId: record.deviceId, identityId: record.identityId, signatureKey: this.signatureKeys.publicKey },
      (identityId, error) =>
        this.hub.emit({ type: 'key-transparency-error', identityId, code: isParleyError(error) ? error.code : 'key_log_unavailable' }),
    );
    this.keys = new DeviceKeys({
      api: this.api,
      store: this.store,
      verifier: this.verifier,
      authenticator: this.authenticator,
      hub: this.hub,
      deviceId: record.deviceId,
      identityId: record.identityId,
      identityKey: fromBase64(record.identityPublicKey),
      identityPrivateKey: fromBase64(record.identityPrivateKey),
      signatureKey: this.signatureKeys.publicKey,
    });
    this.receipts = new ReceiptOutbox(
      this.api,
      this.store,
      fromBase64(record.identityPrivateKey),
      { identityId: record.identityId, deviceId: record.deviceId },
      (receipt, code) => this.hub.emit({ type: 'receipt-rejected', messageId: receipt.messageId, status: receipt.status, code }),
    );
    this.receiver = new Receiver({
      store: this.store,
      suite,
      member: { identityId: this.identityId, deviceId: this.deviceId },
      signatureKeys: this.signatureKeys,
      authenticate: this.authenticator.authenticate,
      api: this.api,
      locks: this.locks,
      conversations: this.conversations,
      hub: this.hub,
      recoveryDelayMs: options.recoveryDelayMs ?? 3000,
      now: () => this.now(),
      submit: (request) => this.submit(request),
      ackOverSocket: (ids) => this.realtime?.ack(ids) ?? false,
      identityKeyOf: async (identityId, deviceId) => {
        const known = (await this.authenticator.keysOf(identityId)).devices.get(deviceId);
        return (known ?? (await this.authenticator.keysOf(identityId, true)).devices.get(deviceId))?.identityKey;
      },
      receipts: this.receipts,
    });
  }

  /**
   * First run: creates the identity key, MLS signature key and KeyPackages,
   * persists them, then registers the public halves with the enrollment token.
   */
  static async enroll(options: EnrollOptions): Promise<Device> {
    const { iss, sub } = decodeTokenSubject(options.enrollmentToken);
    const identityId = identityIdOf(iss, sub);
    const suite = await loadSuite(DEFAULT_SUITE, options.crypto);
    const existing = await getJson<DeviceRecordV1>(options.store, RECORDS.device);
    if (existing?.registered) throw new ConversationError('device_exists', 'this store already holds a registered device');
    const anchors = options.keyDirectory ?? (await fetchAnchors(new ApiClient({ serverUrl: options.serverUrl, ...(options.fetch ? { fetch: options.fetch } : {}) })));
    const deviceId = newDeviceId();
    const identity = generateIdentityKeyPair();
    const signature = await generateSignatureKeyPair(suite);
    const record: DeviceRecordV1 = {
      v: 1,
      deviceId,
      identityId,
      kind: undefined,
      label: options.label,
      serverUrl: options.serverUrl,
      suite: suite.name,
      identityPrivateKey: toBase64(identity.privateKey),
      identityPublicKey: toBase64(identity.publicKey),
      signaturePrivateKey: toBase64(signature.privateKey),
      signaturePublicKey: toBase64(signature.publicKey),
      registered: false,
      anchors,
    };
    const now = options.now?.() ?? new Date();
    const batch = await generateKeyPackages(suite, { identityId, deviceId }, signature, options.keyPackageBatch ?? 50, true, now);
    // Private halves first: a crash after the server accepted must not lose them.
    await options.store.write([putJson(RECORDS.device, record), ...batch.ops]);
    const device = new Device(record, suite, options, options.serverUrl);
    const proof = signEd25519(
      identity.privateKey,
      registrationProofMessage({ enrollmentToken: options.enrollmentToken, deviceId, identityKey: identity.publicKey, signatureKey: signature.publicKey }),
    );
    const res = await device.api.registerDevice({
      enrollmentToken: options.enrollmentToken,
      deviceId,
      identityKey: record.identityPublicKey,
      signatureKey: record.signaturePublicKey,
      suite: suite.name,
      ...(options.label ? { label: options.label } : {}),
      keyPackages: batch.oneTime,
      lastResortKeyPackage: batch.lastResort!,
      proof: toBase64(proof),
    });
    record.kind = res.kind;
    record.registered = true;
    record.status = res.status;
    await options.store.write([putJson(RECORDS.device, record)]);
    // The new key must be in the log, where the server says it put it.
    await device.keys.checkOwnKeys();
    return device;
  }

  /** Every later run: restores the device and its conversations from the store. */
  static async open(options: OpenOptions): Promise<Device> {
    const record = await getJson<DeviceRecordV1>(options.store, RECORDS.device);
    if (!record || !record.registered) throw new ConversationError('device_not_enrolled', 'the store holds no registered device');
    if (!new RegExp(DEVICE_ID_PATTERN).test(record.deviceId)) throw new ConversationError('device_record_invalid', 'stored device record is invalid');
    const suite = await loadSuite(DEFAULT_SUITE, options.crypto);
    const device = new Device(record, suite, options, options.serverUrl ?? record.serverUrl);
    await device.loadConversations();
    return device;
  }

  /**
   * A business sender follows the whole key log (so no revocation can be hidden
   * from it); other devices verify lookups.
   */
  private logFollower(): KeyLogFollower | undefined {
    if (this.record.kind !== 'sender') return undefined;
    this.follower ??= new KeyLogFollower(this.api, this.store, this.verifier);
    return this.follower;
  }

  /** The newest key-log checkpoint this device verified (a signed note), to gossip with peers. */
  async latestCheckpoint(): Promise<string | undefined> {
    return (await this.verifier.lastCheckpoint())?.note;
  }

  /** Checks a checkpoint a peer saw against ours: throws `key_log_fork` on a split view. */
  compareCheckpoint(note: string): Promise<void> {
    return this.verifier.compareWithPeer(note);
  }

  /** `active`, or `pending` until another device of the identity approves this one. */
  async status(): Promise<'active' | 'pending' | 'revoked'> {
    const self = (await this.keys.devicesOf(this.identityId)).find((d) => d.deviceId === this.deviceId);
    return self?.status === 'approved' ? 'active' : (self?.status ?? 'pending');
  }

  /** `customer`, `sender`, `agent` or `bot`, as the enrollment token said. */
  get kind(): string | undefined {
    return this.record.kind;
  }

  get businessId(): string {
    return businessOf(this.identityId);
  }

  /** The device's Ed25519 identity public key (for safety numbers). */
  get identityKey(): Uint8Array {
    return fromBase64(this.record.identityPublicKey);
  }

  get online(): boolean {
    return this.realtime?.online ?? false;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private member(): MemberRef {
    return { identityId: this.identityId, deviceId: this.deviceId };
  }

  private async loadConversations(): Promise<void> {
    for (const name of await this.store.list(RECORDS.conversationPrefix)) {
      const match = /^conv\/([^/]+)\/meta$/.exec(name);
      if (!match) continue;
      const conversation = await ConversationState.load(this.store, match[1]!, this.authenticator.authenticate);
      if (conversation) this.conversations.set(conversation.id, conversation);
    }
  }

  // ---------------------------------------------------------------------------
  // Events

  /** Listens to every event; returns the unsubscribe function. */
  subscribe(listener: (event: DeviceEvent) => void): () => void {
    return this.hub.subscribe(listener);
  }

  /** Async iterator over events from now until the device closes (or `signal` aborts). */
  events(signal?: AbortSignal): AsyncIterableIterator<DeviceEvent> {
    return this.hub.iterate(signal);
  }

  // ---------------------------------------------------------------------------
  // Connectivity

  /**
   * Goes online: opens the WebSocket (deliveries arrive as they are stored),
   * resubmits anything left in the outbox and tops up KeyPackages.
   * Resolves once connected, or after `timeoutMs` (default 10 s) with false.
   */
  async connect(timeoutMs = 10_000): Promise<boolean> {
    if (this.closed) throw new ConversationError('device_closed', 'the device is closed');
    const webSocket = this.options.webSocket ?? defaultWebSocket();
    if (!webSocket) throw new TransportError('no WebSocket implementation: pass options.webSocket');
    if (!this.realtime) {
      this.realtime = new RealtimeChannel({
        serverUrl: this.api.serverUrl,
        token: (refresh) => this.session.get(refresh),
        webSocket,
        onEnvelopes: (envelopes) => this.receiver.enqueue(envelopes),
        onFrame: (frame) => {
          if (frame.type === 'key-packages-low') void this.replenishKeyPackages(false);
        },
        onStateChange: (online) => this.hub.emit({ type: 'connection', online }),
      });
      this.realtime.start();
    }
    const ok = await this.realtime.waitReady(timeoutMs);
    if (ok) {
      void this.flushPendingWork().catch(() => {});
      void this.replenishKeyPackages(false).catch(() => {});
      void this.keys.checkOwnKeys().catch(() => {});
      this.receipts.kick();
    }
    return ok;
  }

  /** Goes offline (the device can reconnect later). */
  async disconnect(): Promise<void> {
    const rt = this.realtime;
    this.realtime = undefined;
    await rt?.stop();
  }

  /**
   * Fetches and processes the whole mailbox over HTTP (for hosts without a
   * WebSocket, and to catch up before retrying a conflicting commit).
   */
  async sync(): Promise<void> {
    let after = '0';
    for (;;) {
      const res = await this.api.mailbox(100, after);
      this.receiver.enqueue(res.envelopes);
      await this.receiver.idle();
      await this.receiver.flushAcks();
      const last = res.envelopes[res.envelopes.length - 1];
      if (!res.more || !last) break;
      after = last.id;
    }
  }

  /** Resolves when every queued envelope has been processed. */
  idle(): Promise<void> {
    return this.receiver.idle();
  }

  /** Stops everything; the store stays open (the host owns it). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.receiver.idle().catch(() => {});
    await this.receiver.flushAcks().catch(() => {});
    this.receipts.close();
    await this.disconnect();
    this.receiver.close();
    this.hub.close();
  }

  // ---------------------------------------------------------------------------
  // KeyPackages

  /** Uploads fresh KeyPackages when the server's stock is low (or always, with `force`). */
  replenishKeyPackages(force: boolean): Promise<void> {
    this.replenishing ??= (async () => {
      try {
        const stock = await this.api.keyPackageStock();
        if (!force && !stock.low) return;
        // Top up to twice the server's low watermark (at least one batch).
        const target = Math.max(this.options.keyPackageBatch ?? 50, stock.lowWatermark * 2);
        const count = Math.max(0, target - stock.oneTime);
        const batch = await generateKeyPackages(this.suite, this.member(), this.signatureKeys, count, !stock.lastResort, this.now());
        if (batch.ops.length === 0) return;
        await this.store.write(batch.ops);
        await this.api.uploadKeyPackages({
          keyPackages: batch.oneTime,
          ...(batch.lastResort ? { lastResortKeyPackage: batch.lastResort } : {}),
        });
        this.hub.emit({ type: 'key-packages-replenished', uploaded: batch.oneTime.length });
      } finally {
        this.replenishing = undefined;
      }
    })();
    return this.replenishing;
  }

  // ---------------------------------------------------------------------------
  // Conversations

  /** Conversations this device is in. */
  listConversations(): { conversationId: string; epoch: string; active: boolean; members: MemberRef[] }[] {
    return [...this.conversations.values()].map((c) => ({
      conversationId: c.meta.conversationId,
      epoch: c.group.epoch.toString(),
      active: c.meta.active,
      members: c.group.members().map((m) => m.member),
    }));
  }

  /** Members of a conversation (by device). */
  members(conversationId: string): MemberRef[] {
    return this.slot(conversationId).group.members().map((m) => m.member);
  }

  /** Current MLS epoch of a conversation. */
  epoch(conversationId: string): bigint {
    return this.slot(conversationId).group.epoch;
  }

  private slot(conversationId: string): ConversationState {
    const slot = this.conversations.get(conversationId);
    if (!slot) throw new ConversationError('unknown_conversation', 'no such conversation on this device', { conversationId });
    return slot;
  }

  /**
   * Approved devices of the given identities from the verified key log (this
   * device excluded). A device the log does not show, or shows as pending or
   * revoked, is never included.
   */
  async activeDevices(identityIds: readonly string[]): Promise<{ identityId: string; deviceId: string }[]> {
    const out: { identityId: string; deviceId: string }[] = [];
    for (const identityId of identityIds) {
      const keys = await this.authenticator.keysOf(identityId, true);
      for (const d of keys.devices.values()) if (d.status === 'approved' && d.deviceId !== this.deviceId) out.push({ identityId, deviceId: d.deviceId });
    }
    return out;
  }

  /** Claims and verifies one KeyPackage per device. */
  private async claimKeyPackages(devices: readonly { identityId: string; deviceId: string }[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let i = 0; i < devices.length; i += 100) {
      const chunk = devices.slice(i, i + 100);
      const res = await this.api.claimKeyPackages(chunk.map((d) => d.deviceId));
      for (const want of chunk) {
        const got = res.keyPackages.find((k) => k.deviceId === want.deviceId);
        if (!got) throw new ConversationError('key_package_missing', 'the server returned no KeyPackage for a device', { deviceId: want.deviceId });
        const bytes = fromBase64(got.keyPackage, 'keyPackage');
        const info = await inspectKeyPackage(this.suite, bytes);
        // The server must not substitute another device's (or its own) KeyPackage.
        if (info.member.deviceId !== want.deviceId || info.member.identityId !== want.identityId) {
          throw new ConversationError('key_package_substituted', 'the server returned a KeyPackage of another device', { deviceId: want.deviceId });
        }
        if (!(await this.authenticator.authenticate(info.member, info.signaturePublicKey))) {
          throw new ConversationError('key_package_unverified', 'KeyPackage key does not match the directory', { deviceId: want.deviceId });
        }
        out.push(bytes);
      }
    }
    return out;
  }

  /**
   * Creates a conversation with every active device of the given identities (and
   * this identity's other devices): a new MLS group, one commit adding them all,
   * a Welcome for each.
   */
  async createConversation(identityIds: readonly string[]): Promise<string> {
    const targets = await this.activeDevices([...new Set([this.identityId, ...identityIds])]);
    const keyPackages = await this.claimKeyPackages(targets);
    const group = await createGroup(this.suite, randomBytes(32), this.member(), this.signatureKeys, this.authenticator.authenticate);
    const conversationId = group.conversationId;
    const conversation = ConversationState.fresh(group, this.now());
    await this.locks.run(conversationId, async () => {
      await this.store.write([...conversation.stateOps(group), ...conversation.metaOps()]);
      conversation.adopt(group);
      this.conversations.set(conversationId, conversation);
      await this.commitLocked(conversation, { add: keyPackages });
    });
    return conversationId;
  }

  /** Adds every active device of the given identities that is not yet a member. */
  async addMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    await this.commitWithRetry(conversationId, async (slot) => {
      const present = new Set<string>(slot.group.members().map((m) => m.member.deviceId));
      const wanted = (await this.activeDevices(identityIds)).filter((d) => !present.has(d.deviceId));
      return wanted.length === 0 ? undefined : { add: await this.claimKeyPackages(wanted) };
    });
  }

  /** Removes devices (by id) from the conversation. */
  async removeDevices(conversationId: string, deviceIds: readonly string[]): Promise<void> {
    await this.commitWithRetry(conversationId, async (slot) => {
      const leaves = slot.group
        .members()
        .filter((m) => deviceIds.includes(m.member.deviceId) && m.member.deviceId !== this.deviceId)
        .map((m) => m.leafIndex);
      return leaves.length === 0 ? undefined : { remove: leaves };
    });
  }

  /** Removes every device of the given identities. */
  async removeMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    const ids = this.members(conversationId)
      .filter((m) => identityIds.includes(m.identityId))
      .map((m) => m.deviceId);
    await this.removeDevices(conversationId, ids);
  }

  /**
   * Brings the members of `identityId` in line with the directory: adds its new
   * active devices, removes revoked ones. Returns what changed.
   */
  async reconcileIdentity(conversationId: string, identityId: string): Promise<{ added: string[]; removed: string[] }> {
    const changed = { added: [] as string[], removed: [] as string[] };
    await this.commitWithRetry(conversationId, async (slot) => {
      const active = (await this.activeDevices([identityId])).filter((d) => d.identityId === identityId);
      const activeIds = new Set(active.map((d) => d.deviceId));
      const members = slot.group.members().filter((m) => m.member.identityId === identityId && m.member.deviceId !== this.deviceId);
      const present = new Set<string>(members.map((m) => m.member.deviceId));
      const add = active.filter((d) => !present.has(d.deviceId));
      const remove = members.filter((m) => !activeIds.has(m.member.deviceId));
      changed.added = add.map((d) => d.deviceId);
      changed.removed = remove.map((m) => m.member.deviceId);
      if (add.length === 0 && remove.length === 0) return undefined;
      return { add: await this.claimKeyPackages(add), remove: remove.map((m) => m.leafIndex) };
    });
    return changed;
  }

  private readonly trustChecked = new Map<string, number>();

  /**
   * Before sending: removes members whose keys the verified key log no longer
   * shows as approved (revoked devices), so a revoked device is out of every
   * conversation by the next commit of any member. Checked at most every 30 s per
   * conversation; identity lookups are cached.
   */
  private async dropUntrustedMembers(conversationId: string): Promise<void> {
    const last = this.trustChecked.get(conversationId) ?? 0;
    if (Date.now() - last < (this.options.trustCheckIntervalMs ?? 30_000)) return;
    this.trustChecked.set(conversationId, Date.now());
    const members = this.slot(conversationId).group.members().filter((m) => m.member.deviceId !== this.deviceId);
    const untrusted: string[] = [];
    for (const identityId of new Set(members.map((m) => m.member.identityId))) {
      const keys = await this.authenticator.keysOf(identityId, (this.options.trustCheckIntervalMs ?? 30_000) === 0);
      for (const m of members) {
        if (m.member.identityId !== identityId) continue;
        const d = keys.devices.get(m.member.deviceId);
        if (!d || d.status !== 'approved' || !equalBytes(d.signatureKey, m.signaturePublicKey)) untrusted.push(m.member.deviceId);
      }
    }
    if (untrusted.length > 0) await this.removeDevices(conversationId, untrusted);
  }

  /** An update commit: fresh path secrets (post-compromise security, RFC 9420 §12.4). */
  async updateKeys(conversationId: string): Promise<void> {
    await this.commitWithRetry(conversationId, async () => ({}));
  }

  private async commitWithRetry(
    conversationId: string,
    plan: (slot: ConversationState) => Promise<{ add?: Uint8Array[]; remove?: number[] } | undefined>,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.locks.run(conversationId, async () => {
          const slot = this.slot(conversationId);
          if (!slot.meta.active) throw new ConversationError('not_a_member', 'this device was removed from the conversation');
          const changes = await plan(slot);
          if (changes) await this.commitLocked(slot, changes);
        });
        return;
      } catch (error) {
        // Another member committed first: catch up on its commit, then plan again.
        if (error instanceof ApiError && error.code === 'epoch_conflict' && attempt < 4) {
          await this.sync();
          continue;
        }
        throw error;
      }
    }
  }

  /** Creates, persists as pending, submits and adopts one commit. Caller holds the lock. */
  private async commitLocked(slot: ConversationState, changes: { add?: Uint8Array[]; remove?: number[] }): Promise<void> {
    const id = slot.meta.conversationId;
    const out = await commitChanges(this.suite, slot.group, changes);
    const request: SubmitRequest = {
      idempotencyKey: `c-${toBase64Url(randomBytes(12))}`,
      conversationId: id,
      message: toBase64(out.commit),
      members: out.group.members().map((m) => m.member.deviceId),
      groupInfo: toBase64(out.groupInfo),
      ...(out.welcome ? { welcome: toBase64(out.welcome) } : {}),
    };
    const pending: PendingCommitV1 = { v: 1, request, state: toBase64(encodeGroup(out.group)) };
    await this.store.write([putJson(RECORDS.pendingCommit(id), pending)]);
    try {
      await this.submit(request);
    } catch (error) {
      if (!isRetryable(error)) await this.store.write([{ op: 'delete', name: RECORDS.pendingCommit(id) }]);
      throw error;
    }
    await this.adoptCommit(slot, out.group);
  }

  private async adoptCommit(slot: ConversationState, group: MlsGroup): Promise<void> {
    const id = slot.meta.conversationId;
    const before = slot.group.members().map((m) => m.member);
    await this.store.write([...slot.stateOps(group), { op: 'delete', name: RECORDS.pendingCommit(id) }]);
    slot.adopt(group);
    const after = group.members().map((m) => m.member);
    const key = (m: MemberRef) => `${m.identityId}/${m.deviceId}`;
    const beforeKeys = new Set(before.map(key));
    const afterKeys = new Set(after.map(key));
    this.hub.emit({
      type: 'membership-changed',
      conversationId: id,
      added: after.filter((m) => !beforeKeys.has(key(m))),
      removed: before.filter((m) => !afterKeys.has(key(m))),
      by: this.member(),
      epoch: group.epoch.toString(),
    });
    this.receiver.releaseHeld(id);
  }

  /**
   * Encrypts and sends a text message to a conversation. The ratcheted group
   * state and the ciphertext are persisted before submission; an interrupted send
   * is resubmitted on the next `connect` with the same idempotency key.
   */
  async send(conversationId: string, text: string, options: SendOptions = {}): Promise<SendResult> {
    const idempotencyKey = options.idempotencyKey ?? `m-${toBase64Url(randomBytes(12))}`;
    const earlier = await getJson<OutboxRecordV1>(this.store, RECORDS.outbox(idempotencyKey));
    if (earlier) return this.deliverOutbox(idempotencyKey, earlier);
    await this.dropUntrustedMembers(conversationId);
    const record = await this.locks.run(conversationId, async () => {
      const slot = this.slot(conversationId);
      if (!slot.meta.active) throw new ConversationError('not_a_member', 'this device was removed from the conversation');
      const messageId = newMessageId();
      const now = this.now();
      const messageClass = options.class ?? 'chat';
      const audited = options.audit ? this.commit(messageId, conversationId, options.audit.recipient, messageClass, text, now) : undefined;
      const content = encodeContent({
        v: 1,
        id: messageId,
        type: 'text',
        text,
        class: messageClass,
        sentAt: now.toISOString(),
        ...(audited ? { audit: { commitment: audited.commitment, signature: audited.signature, opening: audited.opening } } : {}),
      });
      const epoch = slot.group.epoch.toString();
      const enc = await encryptApplication(this.suite, slot.group, content);
      const outbox: OutboxRecordV1 = {
        v: 1,
        request: {
          idempotencyKey,
          conversationId,
          message: toBase64(enc.message),
          ...(audited ? { commitment: { body: audited.commitment, signature: audited.signature } } : {}),
        },
        messageId,
        epoch,
      };
      // Persist the ratchet before the ciphertext leaves: a restart never reuses a key.
      await this.store.write([
        ...slot.stateOps(enc.group),
        putJson(RECORDS.outbox(idempotencyKey), outbox),
        putJson(RECORDS.message(conversationId, timeSortKey(now, messageId)), {
          v: 1,
          direction: 'out',
          messageId,
          text,
          class: messageClass,
          sentAt: now.toISOString(),
        }),
        ...(audited ? [putJson(RECORDS.audited(messageId), audited)] : []),
      ]);
      slot.adopt(enc.group);
      return outbox;
    });
    return this.deliverOutbox(idempotencyKey, record);
  }

  private async deliverOutbox(idempotencyKey: string, record: OutboxRecordV1): Promise<SendResult> {
    const res = await this.submit(record.request);
    await this.store.write([{ op: 'delete', name: RECORDS.outbox(idempotencyKey) }]);
    return {
      conversationId: record.request.conversationId,
      messageId: record.messageId,
      envelopeId: res.id,
      duplicate: res.duplicate,
      recipients: res.recipients,
      storedBytes: res.storedBytes,
      epoch: record.epoch,
      ...(record.request.commitment && res.audit
        ? { audit: { commitmentHash: toBase64Url(commitmentHash(record.request.commitment.body)), index: res.audit.index } }
        : {}),
    };
  }

  /** Signs the hiding commitment of a business message (issue: audit evidence; RFC 8785 + RFC 2104 + RFC 8032). */
  private commit(messageId: string, conversationId: string, recipient: string, messageClass: string, text: string, now: Date): AuditedMessageV1 {
    const opening = newOpening();
    const commitment: Commitment = {
      v: 1,
      messageId,
      conversationId,
      sender: { identityId: this.identityId, deviceId: this.deviceId },
      recipient,
      class: messageClass,
      createdAt: now.toISOString(),
      contentCommitment: toBase64Url(contentCommitment(opening, text)),
    };
    const signature = toBase64(signCommitment(fromBase64(this.record.identityPrivateKey), parseCommitment(commitment)));
    return { v: 1, direction: 'out', conversationId, commitment, signature, opening: toBase64(opening), text };
  }

  /**
   * Signs a `read` receipt for an audited message this device received (the
   * server records it in the audit log). Idempotent.
   */
  async markRead(messageId: string): Promise<void> {
    const audited = await getJson<AuditedMessageV1>(this.store, RECORDS.audited(messageId));
    if (!audited || audited.direction !== 'in') throw new ConversationError('not_an_audited_message', 'no audited message with this id was received here');
    await this.store.write([this.receipts.prepare(messageId, toBase64Url(commitmentHash(audited.commitment)), 'read', this.now())]);
    await this.receipts.flush();
  }

  /** Sends receipts still waiting for the server; resolves when none is left that can be sent now. */
  flushReceipts(): Promise<void> {
    return this.receipts.flush();
  }

  /**
   * The evidence bundle of an audited message this device sent or received:
   * the commitment, receipts, audit-log proofs and key-log lookups, fetched from
   * the server — and, with `reveal`, the opening and plaintext that only the two
   * ends hold. Check it offline with `verifyEvidenceBundle` or `parley audit verify`.
   */
  async exportEvidence(messageId: string, options: ExportEvidenceOptions = {}): Promise<EvidenceBundle> {
    const bundle = await this.api.evidence(messageId);
    if (!options.reveal) return bundle;
    const audited = await getJson<AuditedMessageV1>(this.store, RECORDS.audited(messageId));
    if (!audited) throw new ConversationError('not_an_audited_message', 'this device holds no opening for this message');
    return { ...bundle, opening: audited.opening, plaintext: audited.text };
  }

  /** Resubmits interrupted sends and commits (idempotent on the server). */
  private async flushPendingWork(): Promise<void> {
    for (const name of await this.store.list(RECORDS.outboxPrefix)) {
      const record = await getJson<OutboxRecordV1>(this.store, name);
      if (record) await this.deliverOutbox(name.slice(RECORDS.outboxPrefix.length), record).catch(() => {});
    }
    for (const [id, slot] of this.conversations) {
      const pending = await getJson<PendingCommitV1>(this.store, RECORDS.pendingCommit(id));
      if (!pending) continue;
      await this.locks.run(id, async () => {
        try {
          await this.submit(pending.request);
          await this.adoptCommit(slot, decodeGroup(fromBase64(pending.state), this.authenticator.authenticate));
        } catch (error) {
          if (!isRetryable(error)) await this.store.write([{ op: 'delete', name: RECORDS.pendingCommit(id) }]);
        }
      });
    }
  }

  /** Submits over the WebSocket when online, else HTTP; retries transient failures with the same key. */
  private async submit(request: SubmitRequest): Promise<SubmitResponse> {
    let delay = 200;
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.realtime?.online) {
          try {
            return await this.realtime.submit(request);
          } catch (error) {
            if (!(error instanceof TransportError)) throw error;
          }
        }
        return await this.api.submit(request);
      } catch (error) {
        if (!isRetryable(error) || attempt >= 6 || this.closed) throw error;
        const hinted = error instanceof ApiError ? Number(error.details?.['retryAfterMs'] ?? 0) : 0;
        await new Promise((r) => setTimeout(r, Math.max(hinted, delay / 2 + Math.random() * delay)));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** The conversation an app-chosen tag points to (e.g. `customer/c-1001`). */
  async conversationTag(tag: string): Promise<string | undefined> {
    return (await getJson<{ conversationId: string }>(this.store, RECORDS.conversationTag(tag)))?.conversationId;
  }

  async setConversationTag(tag: string, conversationId: string): Promise<void> {
    await this.store.write([putJson(RECORDS.conversationTag(tag), { conversationId })]);
  }

  /** Locally stored messages of a conversation (sent and received), oldest first. */
  async history(conversationId: string, limit = 100): Promise<unknown[]> {
    const names = await this.store.list(RECORDS.messagePrefix(conversationId));
    const out: unknown[] = [];
    for (const name of names.slice(-limit)) out.push(await getJson(this.store, name));
    return out;
  }

  // ---------------------------------------------------------------------------
  // Receiving (the pipeline itself is in receiver.ts)

  // ---------------------------------------------------------------------------
  // Delivery channels

  /**
   * Registers this device's push token (from FCM or APNs), so the server can wake the
   * app with an opaque "sync" when it is not connected. `undefined` forgets it.
   */
  async setPushToken(registration: { provider: 'fcm' | 'apns'; token: string } | undefined): Promise<void> {
    await this.api.setPushToken(registration);
  }

  /**
   * Opens a retrieval link from an SMS or RCS card (`https://…/r/<token>`): fetches the
   * ciphertext it points at (once; only a device of the recipient can) and decrypts it
   * like any other message. Returns how many envelopes it carried (0 if this device had
   * the message already).
   */
  async openRetrievalLink(link: string): Promise<number> {
    let token: string | undefined;
    try {
      token = new URL(link).pathname.match(/\/r\/([A-Za-z0-9_-]{22})$/)?.[1];
    } catch {
      token = undefined;
    }
    if (!token) throw new ConversationError('invalid_link', 'not a Parley retrieval link');
    const { envelopes } = await this.api.retrieve(token);
    if (envelopes.length > 0) await this.receive(envelopes);
    return envelopes.length;
  }

  /**
   * Hands envelopes obtained out of band (e.g. ciphertext fetched through an SMS
   * retrieval link) to the receive pipeline. Order and duplicates do not matter.
   */
  async receive(envelopes: readonly Envelope[]): Promise<void> {
    this.receiver.enqueue(envelopes);
    await this.receiver.idle();
    await this.receiver.flushAcks();
  }
}


/**
 * A device: its identity, KeyPackages, conversations and mailbox. A façade over `device-parts.ts`. Invariants:
 * - private keys and group secrets live only in the KeyStore and in memory;
 * - state is persisted before anything that depends on it leaves the device (a ratcheted group state
 *   before the ciphertext is submitted; a new epoch only once the delivery service accepted the commit);
 * - an envelope is acknowledged only after its effect is persisted: a crash means redelivery, recognised by envelope and message id.
 */
import { businessOf, fromBase64, type BusinessId, type ConversationId, type DeviceId, type DlpOutcome, type Envelope, type IdentityId } from '@parley/core';
import type { EvidenceBundle } from '@parley/core/audit';
import type { MemberRef } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { ConversationSummary } from './conversations.js';
import type { DeviceBackups } from './device-backups.js';
import type { DeviceKeys } from './device-keys.js';
import type { EnrollOptions, ExportEvidenceOptions, OpenOptions, SendOptions, SendResult } from './device-options.js';
import { closeParts, startConnectedWork, type DeviceParts } from './device-parts.js';
import { enrollParts, openParts } from './enroll.js';
import { DeviceClosedError } from './errors.js';
import type { DeviceEvent } from './events.js';
import { exportEvidence, markRead } from './evidence.js';
import { conversationTag, readHistory, setConversationTag } from './history.js';
import type { MaintenanceReport } from './maintenance.js';
import { openRetrievalLink } from './retrieval.js';
import { sendMessage } from './send-message.js';
import { moveConversation } from './conversation-upgrade.js';
import type { DeviceRef, PostQuantumMode } from './membership.js';
import { statedSuites } from './records.js';
import { DeviceRecovery } from './social-recovery.js';
import { DeviceAttachments } from './device-attachments.js';
import type { ContentPolicyConfig } from './dlp/index.js';
import { sendWebLink, type SenderWebOptions, type SenderWebResult } from './web-link.js';

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
  /** The HTTP client of this device's session (for the CLI and tests; apps use the methods here). */
  readonly api: ApiClient;
  /** Keys as people handle them: safety numbers, approvals, revocation, rotation, monitoring. */
  readonly keys: DeviceKeys;
  /** Encrypted backups of the history, conversations and verifications (docs/backup-format.md). */
  readonly backups: DeviceBackups;
  /** Social recovery of the backup recovery key: k-of-n shares with own devices and trusted contacts (docs/social-recovery.md). */
  readonly recovery: DeviceRecovery;
  /** Encrypted files: upload before `send(…, { attachments })`, download what arrives (docs/attachments.md). */
  readonly attachments: DeviceAttachments;
  private closed = false;

  private constructor(private readonly parts: DeviceParts) {
    ({ deviceId: this.deviceId, identityId: this.identityId } = parts.record);
    ({ api: this.api, keys: this.keys, backups: this.backups } = parts);
    this.recovery = new DeviceRecovery(parts);
    this.attachments = new DeviceAttachments(parts.api, parts.mediaCrypto);
  }

  /**
   * First run: creates the identity key, MLS signature key and KeyPackages, persists them, then registers the public halves with the enrollment token.
   *
   * @example
   * const phone = await Device.enroll({ serverUrl: 'https://parley.example', enrollmentToken, store: new MemoryKeyStore(), label: 'phone', ...nodeRuntime })
   */
  static async enroll(options: EnrollOptions): Promise<Device> {
    return new Device(await enrollParts(options));
  }

  /**
   * Every later run: restores the device and its conversations from the store.
   *
   * @example
   * const phone = await Device.open({ store: await FileKeyStore.open('./phone', { passphrase }), ...nodeRuntime })
   */
  static async open(options: OpenOptions): Promise<Device> {
    return new Device(await openParts(options));
  }

  /**
   * The newest key-log checkpoint this device verified (a signed note), to gossip with peers.
   *
   * @example
   * const note = await phone.latestCheckpoint()
   * if (note !== undefined) await laptop.compareCheckpoint(note)
   */
  async latestCheckpoint(): Promise<string | undefined> {
    return (await this.parts.verifier.lastCheckpoint())?.note;
  }

  /**
   * Checks a checkpoint a peer saw against ours: throws `key_log_fork` on a split view.
   *
   * @example
   * await phone.compareCheckpoint(noteFromPeer) // KeyTransparencyError `key_log_fork` on a split view
   */
  compareCheckpoint(note: string): Promise<void> {
    return this.parts.verifier.compareWithPeer(note);
  }

  /** `active`, or `pending` until another device approves it. @example if ((await tablet.status()) === 'pending') showQr(tablet.keys.approvalRequest().qr) */
  async status(): Promise<'active' | 'pending' | 'revoked'> {
    const self = (await this.keys.devicesOf(this.identityId)).find((d) => d.deviceId === this.deviceId);
    return self?.status === 'approved' ? 'active' : (self?.status ?? 'pending');
  }

  /** `customer`, `sender`, `agent` or `bot`, as the enrollment token said. */
  get kind(): string | undefined {
    return this.parts.record.kind;
  }

  /** The business this device's identity belongs to. */
  get businessId(): BusinessId {
    return businessOf(this.identityId);
  }

  /** The device's Ed25519 identity public key (for safety numbers). */
  get identityKey(): Uint8Array {
    return fromBase64(this.parts.record.identityPublicKey);
  }

  /** True while the WebSocket is connected and authenticated. */
  get online(): boolean {
    return this.parts.connection.online;
  }

  /**
   * Listens to every event; returns the unsubscribe function.
   *
   * @example
   * const unsubscribe = phone.subscribe((e) => { if (e.type === 'message') console.log(e.class, e.text) })
   * unsubscribe()
   */
  subscribe(listener: (event: DeviceEvent) => void): () => void {
    return this.parts.hub.subscribe(listener);
  }

  /**
   * Async iterator over events from now until the device closes (or `signal` aborts).
   *
   * @example
   * for await (const e of phone.events(new AbortController().signal)) if (e.type === 'message') console.log(e.text)
   */
  events(signal?: AbortSignal): AsyncIterableIterator<DeviceEvent> {
    return this.parts.hub.iterate(signal);
  }

  /**
   * Goes online: opens the WebSocket, resubmits the outbox, tops up KeyPackages; true once connected, false after `timeoutMs` (default 10 s).
   *
   * @example
   * if (!(await phone.connect(5_000))) await phone.sync() // offline: catch up over HTTP instead
   */
  async connect(timeoutMs = 10_000): Promise<boolean> {
    if (this.closed) throw new DeviceClosedError();
    const ok = await this.parts.connection.open(timeoutMs);
    await this.parts.revocation.assertActive();
    if (ok) startConnectedWork(this.parts);
    return ok;
  }

  /** Goes offline (the device can reconnect later). @example await phone.disconnect() */
  async disconnect(): Promise<void> {
    await this.parts.connection.close();
  }

  /**
   * Fetches and processes the whole mailbox over HTTP (for hosts without a WebSocket, and to catch up before retrying a conflicting commit).
   *
   * @example
   * await phone.sync() // e.g. when a push wake-up arrives
   * console.log(phone.listConversations())
   */
  sync(): Promise<void> {
    return this.parts.sync();
  }

  /** Resolves when every queued envelope has been processed. @example await phone.idle() */
  idle(): Promise<void> {
    return this.parts.receiver.idle();
  }

  /**
   * Stops everything; the store stays open (the host owns it).
   *
   * @example
   * await phone.close()
   * await store.close()
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeParts(this.parts, () => this.disconnect());
  }

  /** Uploads fresh KeyPackages when the server's stock is low (or always, with `force`). @example await phone.replenishKeyPackages(false) */
  replenishKeyPackages(force: boolean): Promise<void> {
    return this.parts.keyPackages.replenish(force);
  }

  /**
   * Runs the periodic upkeep now (it also runs on connect and on a timer while connected): due self-updates, KeyPackage rotation, expired private halves deleted (docs/maintenance.md).
   *
   * @example
   * const { selfUpdated, keyPackagesRotated } = await phone.maintain()
   */
  maintain(): Promise<MaintenanceReport> {
    return this.parts.maintenance.run();
  }

  /** Conversations this device is in. @example for (const c of phone.listConversations()) console.log(c.conversationId, c.active) */
  listConversations(): ConversationSummary[] {
    return this.parts.conversations.summaries();
  }

  /** One conversation as `listConversations` shows it, undefined if not here. @example phone.conversation(id)?.suite */
  conversation(conversationId: string): ConversationSummary | undefined {
    return this.parts.conversations.summary(conversationId);
  }

  /**
   * Members of a conversation (by device).
   *
   * @example
   * const identities = new Set(phone.members(conversationId).map((m) => m.identityId))
   */
  members(conversationId: string): MemberRef[] {
    return this.parts.conversations.require(conversationId).group.members().map((m) => m.member);
  }

  /** Current MLS epoch of a conversation (a bigint). @example console.log(`epoch ${phone.epoch(conversationId)}`) */
  epoch(conversationId: string): bigint {
    return this.parts.conversations.require(conversationId).group.epoch;
  }

  /**
   * Approved devices of the given identities from the verified key log (this device excluded; never one pending or revoked there).
   *
   * @example
   * const devices = await phone.activeDevices(['acme:c-1001'])
   * console.log(devices.map((d) => d.deviceId))
   */
  activeDevices(identityIds: readonly string[]): Promise<DeviceRef[]> {
    return this.parts.membership.activeDevices(identityIds);
  }

  /**
   * Creates a conversation with every active device of the identities (and this identity's other
   * devices), `only` narrowing the others' devices, in one commit; on X-Wing per `pq` (default
   * `preferred`: when every device supports it; docs/post-quantum.md).
   * @example
   * const conversationId = await agent.createConversation(['acme:c-1001'], { pq: 'preferred' })
   */
  createConversation(identityIds: readonly string[], options: { readonly pq?: PostQuantumMode; readonly only?: (device: DeviceRef) => boolean } = {}): Promise<ConversationId> {
    return this.parts.membership.createConversation(identityIds, options.pq, options.only);
  }

  /**
   * Moves a conversation to the suite its devices call for (X-Wing when all support it; with
   * `upgradeOnly: false`, classic when one does not): a new group linked from the old one by an
   * MLS-authenticated notice (docs/post-quantum.md); undefined when the suite is already right.
   * @example
   * const next = await agent.upgradeConversation(conversationId)
   */
  upgradeConversation(conversationId: string, options: { readonly upgradeOnly?: boolean } = {}): Promise<ConversationId | undefined> {
    return moveConversation(this.parts, conversationId, options.upgradeOnly ?? true);
  }

  /** The MLS suites this device states in the key log (docs/post-quantum.md). */
  get suites(): readonly string[] {
    return statedSuites(this.parts.record);
  }

  /** Adds every active device of the given identities that is not yet a member. @example await agent.addMembers(conversationId, ['acme:agent-2']) */
  addMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    return this.parts.membership.addMembers(conversationId, identityIds);
  }

  /** Removes devices (by id). @example await agent.removeDevices(conversationId, [lostPhoneDeviceId]) */
  removeDevices(conversationId: string, deviceIds: readonly string[]): Promise<void> {
    return this.parts.membership.removeDevices(conversationId, deviceIds);
  }

  /** Removes every device of the given identities. @example await agent.removeMembers(conversationId, ['acme:agent-2']) */
  removeMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    return this.parts.membership.removeMembers(conversationId, identityIds);
  }

  /**
   * Brings the members of `identityId` in line with the directory (adds its new active devices, removes revoked ones); returns what changed.
   *
   * @example
   * const { added, removed } = await agent.reconcileIdentity(conversationId, 'acme:c-1001')
   */
  reconcileIdentity(conversationId: string, identityId: string): Promise<{ added: DeviceId[]; removed: DeviceId[] }> {
    return this.parts.membership.reconcileIdentity(conversationId, identityId);
  }

  /**
   * An update commit: fresh path secrets (post-compromise security, RFC 9420 §12.4).
   *
   * @example
   * await phone.updateKeys(conversationId)
   */
  updateKeys(conversationId: string): Promise<void> {
    return this.parts.membership.updateKeys(conversationId);
  }

  /**
   * Encrypts and sends a text message to a conversation. The ratcheted group state and the ciphertext are persisted
   * before submission; an interrupted send is resubmitted on the next `connect` with the same idempotency key.
   * Content policies run first (`ContentBlockedError`: nothing was sent).
   *
   * @example
   * const { messageId, recipients } = await phone.send(conversationId, 'Thanks!', { class: 'support' })
   */
  async send(conversationId: string, text: string, options: SendOptions = {}): Promise<SendResult> {
    const checked = options.screened
      ? { text, dlp: options.screened.dlp }
      : await this.parts.contentPolicy.onSend(conversationId, text, options.class ?? 'chat', options.attachments);
    return sendMessage(this.parts.sending, conversationId, checked.text, { ...options, dlp: checked.dlp });
  }

  /**
   * @internal Runs this device's send-side content policies on a business message before any
   * conversation is touched (`Sender.send`): the text to send and the outcomes, or `ContentBlockedError`.
   *
   * @example
   * const screened = await sender.device.screenBusinessMessage('Your code is 123456', 'otp', undefined)
   */
  screenBusinessMessage(text: string, messageClass: string, attachments: SendOptions['attachments']): Promise<{ text: string; dlp: readonly DlpOutcome[] }> {
    return this.parts.contentPolicy.onSend({ kind: 'business' }, text, messageClass, attachments);
  }

  /**
   * Replaces this device's content policies (DLP; validated first); `undefined` turns them off.
   *
   * @example
   * sender.device.setContentPolicies({ rules: [{ policy: cardNumberPolicy({ action: 'block' }), classes: ['alert'] }] })
   */
  setContentPolicies(config: ContentPolicyConfig | undefined): void {
    this.parts.contentPolicy.set(config);
  }

  /**
   * @internal The web-link send of `Sender.sendToWeb` (web-link.ts) with this device's keys and store; `recipient` is the customer's identity id.
   *
   * @example
   * await sender.sendToWeb('c-1001', '+15550100123', 'Your card was charged', { class: 'alert', deliver })
   */
  async sendWebLink(recipient: string, customerId: string, phone: string, content: string, options: SenderWebOptions): Promise<SenderWebResult> {
    const checked = await this.parts.contentPolicy.onSend({ kind: 'business' }, content, options.class, options.attachments);
    return sendWebLink({ ...this.parts.sending, api: this.api }, recipient, customerId, phone, checked.text, { ...options, dlp: checked.dlp });
  }

  /**
   * Signs a `read` receipt for an audited message this device received (the server records it in the audit log). Idempotent.
   *
   * @example
   * phone.subscribe((e) => { if (e.type === 'message' && e.audit) void phone.markRead(e.messageId) })
   */
  markRead(messageId: string): Promise<void> {
    return markRead(this.parts.store, this.parts.receipts, messageId, this.parts.now());
  }

  /**
   * Sends receipts still waiting for the server; resolves when none is left that can be sent now.
   *
   * @example
   * await phone.markRead(messageId)
   * await phone.flushReceipts()
   */
  flushReceipts(): Promise<void> {
    return this.parts.receipts.flush();
  }

  /**
   * The evidence bundle of an audited message this device sent or received: commitment, receipts, audit-log proofs and
   * key-log lookups from the server — and, with `reveal`, the opening and plaintext that only the two ends hold. Check it
   * offline with `verifyEvidenceBundle` or `parley audit verify`.
   *
   * @example
   * const bundle = await phone.exportEvidence(messageId, { reveal: true })
   * await writeFile('evidence.json', JSON.stringify(bundle)) // then: parley audit verify evidence.json
   */
  exportEvidence(messageId: string, options: ExportEvidenceOptions = {}): Promise<EvidenceBundle> {
    return exportEvidence(this.api, this.parts.store, messageId, options);
  }

  /**
   * The conversation an app-chosen tag points to (e.g. `customer/c-1001`).
   *
   * @example
   * const conversationId = await agent.conversationTag('ticket/4711')
   */
  conversationTag(tag: string): Promise<ConversationId | undefined> {
    return conversationTag(this.parts.store, tag);
  }

  /** Points an app-chosen tag at a conversation. @example await agent.setConversationTag('ticket/4711', conversationId) */
  setConversationTag(tag: string, conversationId: string): Promise<void> {
    return setConversationTag(this.parts.store, tag, conversationId);
  }

  /** Locally stored messages of a conversation (sent and received), oldest first. @example const last20 = await phone.history(conversationId, 20) */
  history(conversationId: string, limit = 100): Promise<unknown[]> {
    return readHistory(this.parts.store, conversationId, limit);
  }

  /**
   * Registers this device's FCM or APNs push token, so the server can wake the app with an opaque "sync"; `undefined` forgets it.
   *
   * @example
   * await phone.setPushToken({ provider: 'fcm', token: fcmRegistrationToken })
   */
  async setPushToken(registration: { provider: 'fcm' | 'apns'; token: string } | undefined): Promise<void> {
    await this.api.setPushToken(registration);
  }

  /**
   * Opens a retrieval link from an SMS or RCS card (`https://…/r/<token>`): fetches its ciphertext (once; only the recipient's devices can), decrypts it, returns the envelope count.
   *
   * @example
   * await phone.openRetrievalLink('https://parley.example/r/k3J9x2mQ7vT0pL5nW8rYbA') // the message arrives as a `message` event
   */
  openRetrievalLink(link: string): Promise<number> {
    return openRetrievalLink(this.api, (envelopes) => this.receive(envelopes), link);
  }

  /**
   * Hands envelopes obtained out of band (e.g. through an SMS retrieval link) to the receive pipeline; order and duplicates do not matter.
   *
   * @example
   * const { envelopes } = await phone.api.mailbox()
   * await phone.receive(envelopes)
   */
  async receive(envelopes: readonly Envelope[]): Promise<void> {
    const { receiver } = this.parts;
    receiver.enqueue(envelopes);
    await receiver.idle();
    await receiver.flushAcks();
  }
}

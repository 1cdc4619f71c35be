/**
 * A business's sending service as a Parley client: one device with a brand
 * identity (`<business>:<subject>`, kind `sender`) that keeps one conversation
 * per customer containing every active device of that customer, and sends
 * classed messages (`otp`, `alert`, `support`, …) into it.
 */
import {
  identityIdOf,
  type AttachmentRef,
  type ConversationId,
  type DeviceId,
  type RouteStatus,
  type RouteViewResponse,
} from '@parley/core';
import { Device } from './device.js';
import type { EnrollOptions, OpenOptions, SendResult } from './device-options.js';
import { ApiError, DeviceKindError, SuiteError } from './errors.js';
import { EscrowPolicyCache } from './escrow-policy.js';
import { checkMessageId } from './send-message.js';
import type { KeyStore } from './key-store.js';
import type { SenderWebOptions, SenderWebResult } from './web-link.js';
import { UPDATE_APP_CLASS, UPDATE_APP_NOTICE, customerTarget, type PostQuantumRule } from './sender-pq.js';
import { XWING_SUITE } from '@parley/core/mls';

/**
 * Options of `Sender.send`.
 *
 * @example
 * await sender.send('c-1001', 'Your code is 123456', { class: 'otp', idempotencyKey: 'otp-42' })
 */
export interface SenderSendOptions {
  /** Message class: `otp`, `alert`, `statement`, `support`, … */
  readonly class: string;
  /** Same key ⇒ the customer receives the message at most once. */
  readonly idempotencyKey?: string;
  /**
   * The message's id, chosen before sending (`MESSAGE_ID_PATTERN`, else `InvalidArgumentError`):
   * with the same `idempotencyKey`, a retry after a crash is the same message end to end.
   */
  readonly messageId?: string;
  /** Sign a commitment for the audit log (default true: business messages carry evidence). */
  readonly audit?: boolean;
  /** Overrides the class's post-quantum rule (`setPostQuantumPolicy`) for this message. */
  readonly postQuantum?: PostQuantumRule;
  /** Files sent with the message (`sender.device.attachments.upload`); `content` is their caption. */
  readonly attachments?: readonly AttachmentRef[];
}

/**
 * What `Sender.send` reports: the message as sent, and the customer's devices it went to.
 *
 * @example
 * const { customerDevices, audit } = await sender.send('c-1001', 'Your card was charged', { class: 'alert' })
 */
export interface SenderSendResult extends SendResult {
  readonly customerId: string;
  /** Devices of the customer the conversation holds after reconciliation. */
  readonly customerDevices: readonly DeviceId[];
  /** The conversation's MLS suite (`MLS_256_XWING_…`: post-quantum). */
  readonly suite: string;
  /** Devices of the customer that did not get the message: the class requires X-Wing and they lack it. */
  readonly withheldFrom: readonly string[];
  /** With `otherwise: 'invite-to-app'`: those devices got an update notice instead (nothing of the message). */
  readonly invitedToUpdate?: readonly string[];
}

/**
 * A business's sending service: one conversation per customer, classed and audited messages.
 *
 * @example
 * const sender = await Sender.open({ store, ...nodeRuntime })
 * await sender.connect()
 * await sender.send('c-1001', 'Your code is 123456', { class: 'otp' })
 */
export class Sender {
  /** The store `enroll` / `open` were given: `close` closes it (a device wrapped by `fromDevice` keeps its host's). */
  readonly #store: KeyStore | undefined;
  /** The business's classes under escrow, verified against their keys' ids (escrow-policy.ts). */
  readonly #escrow: EscrowPolicyCache;
  /** Post-quantum rules by message class (sender-pq.ts); a class not listed is `preferred`. */
  #pq: Readonly<Record<string, PostQuantumRule>> = {};

  private constructor(
    readonly device: Device,
    store?: KeyStore,
  ) {
    this.#store = store;
    this.#escrow = new EscrowPolicyCache(async () => {
      try {
        return await device.api.escrowPolicy();
      } catch (error) {
        // A server without escrow (404): no class is under escrow there.
        if (error instanceof ApiError && error.status === 404) return { classes: [] };
        throw error;
      }
    }, device.businessId);
  }

  /**
   * First run of the sending service: enrolls a device of kind `sender` (the enrollment token says so).
   * With `signers`, its identity key and MLS signature key stay in an HSM (the store keeps only
   * their public keys and references); `open` then needs the same signers.
   *
   * @example
   * const enrollmentToken = await issueEnrollmentToken(bankKey, 'k1', { businessId: 'acme', subject: 'sender', kind: 'sender', name: 'Acme Bank' })
   * const sender = await Sender.enroll({ serverUrl: 'https://parley.example', enrollmentToken, store, ...nodeRuntime })
   * // or, keys in an HSM: { ..., signers: { identity: hsmIdentityKey, mls: hsmMlsKey } }
   */
  static async enroll(options: EnrollOptions): Promise<Sender> {
    return new Sender(await Device.enroll(options), options.store);
  }

  /**
   * Every later run: reopens the sending service's device from its store.
   *
   * @example
   * const sender = await Sender.open({ store: await FileKeyStore.open('/var/lib/acme-sender', { passphrase }), ...nodeRuntime })
   */
  static async open(options: OpenOptions): Promise<Sender> {
    return new Sender(await Device.open(options), options.store);
  }

  /**
   * Wraps an already enrolled or opened device of kind `sender` (`DeviceKindError` otherwise).
   *
   * @example
   * const sender = Sender.fromDevice(await Device.open({ store, ...nodeRuntime }))
   */
  static fromDevice(device: Device): Sender {
    if (device.kind !== 'sender') throw new DeviceKindError();
    return new Sender(device);
  }

  /**
   * Sets the post-quantum rule of each message class (docs/post-quantum.md): `required` (X-Wing
   * or the class's `otherwise`: `block` or `invite-to-app`), `preferred` (the default), `off`.
   *
   * @example
   * sender.setPostQuantumPolicy({ statement: { pq: 'required', otherwise: 'invite-to-app' } })
   */
  setPostQuantumPolicy(policy: Readonly<Record<string, PostQuantumRule>>): void {
    this.#pq = { ...policy };
  }

  /**
   * Opens the WebSocket (replies and membership changes arrive there).
   *
   * @example
   * await sender.connect()
   * sender.device.subscribe((e) => { if (e.type === 'message') console.log('reply from', e.sender.identityId) })
   */
  connect(timeoutMs?: number): Promise<boolean> {
    return this.device.connect(timeoutMs);
  }

  /**
   * Stops the sending service's device (socket, timers) and closes the store given to
   * `enroll` / `open` (a device wrapped by `fromDevice` keeps its store open: the host owns it).
   *
   * @example
   * await sender.close()
   */
  async close(): Promise<void> {
    await this.device.close();
    await this.#store?.close();
  }

  /**
   * The conversation with `customerId`, if one exists.
   *
   * @example
   * const conversationId = await sender.conversationWith('c-1001')
   * if (conversationId !== undefined) console.log(sender.device.members(conversationId))
   */
  conversationWith(customerId: string): Promise<ConversationId | undefined> {
    return this.device.conversationTag(`customer/${customerId}`);
  }

  /**
   * Sends `content` to every active device of `customerId`: looks the devices up,
   * adds new ones and removes revoked ones from the customer conversation (one
   * commit), then encrypts once for the group.
   *
   * @example
   * const sent = await sender.send('c-1001', 'Your code is 123456', { class: 'otp', idempotencyKey: 'otp-42' })
   * console.log(sent.messageId, sent.customerDevices.length, sent.audit?.index)
   */
  async send(customerId: string, content: string, options: SenderSendOptions): Promise<SenderSendResult> {
    // Before any conversation is created or changed for it.
    checkMessageId(options.messageId);
    // Content policies first: a blocked message changes no conversation (ContentBlockedError).
    const screened = await this.device.screenBusinessMessage(content, options.class, options.attachments);
    const identityId = identityIdOf(this.device.businessId, customerId);
    const rule = options.postQuantum ?? this.#pq[options.class] ?? { pq: 'preferred' };
    const { conversationId, withheldFrom, inviteConversationId } = await customerTarget(this.device, customerId, identityId, rule);
    // Devices without X-Wing under a `required` class: the update notice, nothing of the message.
    if (inviteConversationId !== undefined) await this.device.send(inviteConversationId, UPDATE_APP_NOTICE, { class: UPDATE_APP_CLASS });
    const invited = inviteConversationId === undefined ? {} : { invitedToUpdate: withheldFrom };
    if (conversationId === undefined) {
      throw new SuiteError('post_quantum_unavailable', 'this class must be post-quantum and no device of the customer supports it: nothing was sent but the update notice', {
        suite: XWING_SUITE,
        devices: withheldFrom,
        invited: true,
      });
    }
    const suite = this.device.conversation(conversationId)!.suite;
    const escrow = options.audit === false ? undefined : await this.#escrow.forClass(options.class);
    const result = await this.device.send(conversationId, screened.text, {
      class: options.class,
      screened: { dlp: screened.dlp },
      ...(options.audit === false ? {} : { audit: { recipient: identityId, ...(escrow ? { escrow } : {}) } }),
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
      ...(options.messageId !== undefined ? { messageId: options.messageId } : {}),
      ...(options.attachments !== undefined ? { attachments: options.attachments } : {}),
    });
    const customerDevices = this.device
      .members(conversationId)
      .filter((m) => m.identityId === identityId)
      .map((m) => m.deviceId);
    return { ...result, customerId, customerDevices, suite, withheldFrom, ...invited };
  }

  /**
   * Sends `content` to a customer who does not have the app, by a one-time web link (if
   * the class's policy allows a fallback; otherwise Parley blocks it or sends an invitation
   * to the app itself). The text is sealed here with a fresh AES-256-GCM key and Parley
   * receives only the ciphertext and the signed commitment. When a link is due, the link
   * (`https://…/r/<token>#<key>`) is composed here and `deliver` sends the SMS through the
   * business's own provider: the key never reaches Parley. The hand-off is reported (a
   * throwing `deliver` as `deliver_failed`, then rethrown) and the key bytes are zeroed.
   * The customer opens the link, confirms a code sent to the business's second factor,
   * consents, and the browser decrypts. `exportEvidence(messageId, { reveal: true })` then
   * proves what was sent (there are no receipts: the web page holds no device key).
   *
   * @example
   * const deliver = smsDeliver(new TwilioChannel(bankTwilio), 'Example Bank') // from @parley/server, or any SMS API
   * const { path, state, audit } = await sender.sendToWeb('c-1001', '+15550100123', 'Your card was charged $12', { class: 'alert', deliver })
   */
  async sendToWeb(customerId: string, phone: string, content: string, options: SenderWebOptions): Promise<SenderWebResult> {
    const escrow = options.audit === false ? undefined : await this.#escrow.forClass(options.class);
    return this.device.sendWebLink(identityIdOf(this.device.businessId, customerId), customerId, phone, content, { ...options, ...(escrow ? { escrow } : {}) });
  }

  /**
   * Records that `customerId` consented to receive messages outside the app (for `require-consent` policies).
   *
   * @example
   * await sender.recordFallbackConsent('c-1001')
   */
  async recordFallbackConsent(customerId: string): Promise<void> {
    await this.device.api.recordConsent(customerId);
  }

  /**
   * How a message of this sender travelled: state, path and every routing decision.
   *
   * @example
   * const { messageId } = await sender.send('c-1001', 'Your code is 123456', { class: 'otp' })
   * const { state, path } = await sender.route(messageId)
   */
  route(messageId: string): Promise<RouteViewResponse> {
    return this.device.api.route(messageId);
  }

  /**
   * The delivery status of up to 100 of this business's messages in one call: route state,
   * path and decisions, the customer devices' signed receipts, and the audit-log index of
   * each commitment. Ids that are unknown (or another business's) are absent from the answer.
   *
   * @example
   * const statuses = await sender.routes([sentA.messageId, sentB.messageId])
   * for (const s of statuses) console.log(s.messageId, s.state, s.path, s.receipts.map((r) => r.status))
   */
  async routes(messageIds: readonly string[]): Promise<RouteStatus[]> {
    return (await this.device.api.routeStatuses(messageIds)).routes;
  }
}

/** Options and results of `Device` (and, through it, `Sender` and `Conversation`). */
import type { EscrowTarget } from './escrow-policy.js';
import type { ContentPolicyConfig } from './dlp/index.js';
import type { AttachmentRef, ConversationId, DlpOutcome } from '@parley/core';
import type { StreamCrypto } from '@parley/core/media';
import type { CryptoProvider, SuiteName } from '@parley/core/mls';
import type { DeviceSigners } from './device-signers.js';
import type { KeyDirectoryAnchors } from './key-transparency.js';
import type { KeyStore } from './key-store.js';
import type { WebSocketFactory } from './realtime.js';

/**
 * What every device needs, whether enrolled now or opened from its store.
 *
 * @example
 * const options: DeviceOptions = { store: new MemoryKeyStore(), ...nodeRuntime, keyDirectory: pinnedAnchors }
 */
export interface DeviceOptions {
  /** Where every secret and all state is kept. */
  readonly store: KeyStore;
  /** AES-256-GCM and SHA-256 for attachments (default WebCrypto + @noble/hashes; Node: `nodeRuntime.mediaCrypto`, node:crypto). */
  readonly mediaCrypto?: StreamCrypto;
  /** Crypto backing ts-mls (default: ts-mls's WebCrypto provider; Node: `nodeRuntime.crypto`; browser: `browserRuntime.crypto`). */
  readonly crypto?: CryptoProvider;
  /**
   * WebSocket constructor (default: `globalThis.WebSocket`; Node: `nodeRuntime.webSocket`; browser:
   * `browserRuntime.webSocket`; with none of them, `Device.enroll`/`open` fail with `runtime_missing`).
   */
  readonly webSocket?: WebSocketFactory;
  /** One-time KeyPackages generated per batch (default 50). */
  readonly keyPackageBatch?: number;
  /** Lifetime of this device's KeyPackages, one-time and last-resort (RFC 9420 §7.2; default 30 days; docs/maintenance.md). */
  readonly keyPackageLifetimeMs?: number;
  /** Age of the oldest published KeyPackage at which the device replaces its whole stock on the server (default: half the lifetime). */
  readonly keyPackageRotationMs?: number;
  /** How long a private half is kept after its KeyPackage expired, for Welcomes still in flight (default 7 days). */
  readonly keyPackageGraceMs?: number;
  /**
   * How old this device's own leaf in a conversation may get before the device commits an update
   * with fresh keys (post-compromise security, RFC 9420 §12.4), checked on connect and while
   * connected (default 7 days; `0` or `false`: never).
   */
  readonly selfUpdateIntervalMs?: number | false;
  /**
   * Content policies (DLP) run on this device: before encryption on send, after decryption on
   * receive (docs/content-policies.md). A block on send throws `ContentBlockedError` and sends
   * nothing; a redaction changes the text and is recorded (policy id and action only; signed in a
   * business message's commitment). Change them later with `device.setContentPolicies`.
   */
  readonly contentPolicies?: ContentPolicyConfig;
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
  /**
   * External signers (an HSM, a KMS) for the identity key and the MLS signature key. At
   * enrollment their public keys become the device's and the store keeps no private half
   * of them; every later `open` must pass the same signers (`SignerError`: `signer_required`,
   * `signer_mismatch`). Without them the keys are generated and kept in `store`.
   */
  readonly signers?: DeviceSigners;
  /**
   * The MLS cipher suites this app supports (docs/post-quantum.md). Default: every suite Parley offers (`SUITES`: the classic
   * suite and the hybrid post-quantum X-Wing suite). The classic suite is always included. A
   * device opened with a suite its record does not list yet states it in the key log (signed)
   * and publishes KeyPackages of it at its next maintenance run: this is how an app update
   * brings post-quantum support to an enrolled device.
   */
  readonly suites?: readonly SuiteName[];
  /**
   * Metadata-only diagnostics for the operator (default on; `false`: off): how many messages
   * this device could not decrypt, by reason code, and a customer's verification of their
   * business, with the SDK version and platform. Never content, ids or error text; at most one
   * report a minute, failures silent (docs: `POST /v1/diagnostics`).
   */
  readonly diagnostics?: boolean;
}

/**
 * First run of a device (`Device.enroll`).
 *
 * @example
 * await Device.enroll({ serverUrl, enrollmentToken, store, label: 'phone', ...nodeRuntime })
 */
export interface EnrollOptions extends DeviceOptions {
  readonly serverUrl: string;
  /** Short-lived, single-use JWT from the business backend. */
  readonly enrollmentToken: string;
  /** Human label shown to the owner, e.g. "phone". */
  readonly label?: string;
}

/**
 * Every later run of a device (`Device.open`).
 *
 * @example
 * await Device.open({ store, ...nodeRuntime })
 */
export interface OpenOptions extends DeviceOptions {
  /** Overrides the server URL stored at enrollment. */
  readonly serverUrl?: string;
}

/**
 * Options of `Device.send`.
 *
 * @example
 * await device.send(conversationId, 'Your code is 123456', { class: 'otp', idempotencyKey: 'otp-42' })
 */
export interface SendOptions {
  /** Message class, e.g. `otp`, `alert`, `support` (default `chat`). */
  readonly class?: string;
  /** Same key ⇒ same message: a retry never delivers twice. Default: random. */
  readonly idempotencyKey?: string;
  /**
   * The message's id, chosen by the caller before sending (`MESSAGE_ID_PATTERN`: 16 to 64
   * characters of `A-Za-z0-9_-`; `InvalidArgumentError` otherwise), so that a retry after a
   * crash is the same message end to end. Pass the same `idempotencyKey` with it: the
   * server drops a repeat by that key. Default: a random id.
   */
  readonly messageId?: string;
  /**
   * Makes this a business message with audit evidence: the device signs a
   * hiding commitment naming `recipient` (an identity id) that the server
   * records in the audit log; recipients check it and sign receipts.
   */
  readonly audit?: {
    readonly recipient: string;
    /** @internal The class is under escrow (`Sender` learns it): seal the opening and text to this key too. */
    readonly escrow?: EscrowTarget;
  };
  /**
   * Files sent with the message (`text` is their caption): references that
   * `device.attachments.upload` returned. The files themselves went to the blob store as
   * ciphertext; the references (with their keys) travel encrypted in this message, and a
   * business message's commitment names each file's ciphertext hash. At most 10.
   */
  readonly attachments?: readonly AttachmentRef[];
  /** @internal The text already went through this device's content policies (`Sender.send`): their outcomes. */
  readonly screened?: { readonly dlp: readonly DlpOutcome[] };
}

/**
 * What `Device.send` reports once the server accepted the message.
 *
 * @example
 * const { envelopeId, recipients } = await device.send(conversationId, 'hello')
 */
export interface SendResult {
  readonly conversationId: ConversationId;
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

/**
 * Options of `Device.exportEvidence`.
 *
 * @example
 * const bundle = await device.exportEvidence(messageId, { reveal: true })
 */
export interface ExportEvidenceOptions {
  /** Adds the opening and the plaintext, so the bundle proves the content (for a dispute). */
  readonly reveal?: boolean;
}

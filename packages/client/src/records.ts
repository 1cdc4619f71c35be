/**
 * What the SDK keeps in the KeyStore, record by record. JSON records are
 * versioned; binary MLS state is stored as produced by the adapter.
 */
import { fromUtf8, toHex, utf8, type ConversationId, type DeviceId, type IdentityId, type SubmitRequest } from '@parley/core';
import type { Commitment } from '@parley/core/audit';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import type { KeyDirectoryAnchors } from './key-transparency.js';

export const RECORDS = {
  device: 'device',
  keyPackage: (ref: Uint8Array) => `kp/${toHex(ref)}`,
  keyPackagePrefix: 'kp/',
  conversationState: (id: string) => `conv/${id}/state`,
  conversationTree: (id: string) => `conv/${id}/tree`,
  conversationMeta: (id: string) => `conv/${id}/meta`,
  conversationSeenPrefix: (id: string) => `conv/${id}/seen/`,
  pendingCommit: (id: string) => `conv/${id}/pending-commit`,
  /** When this device last committed an update of its own leaf in the conversation (maintenance.ts). */
  selfUpdate: (id: string) => `conv/${id}/self-update`,
  message: (id: string, sortKey: string) => `conv/${id}/msg/${sortKey}`,
  messagePrefix: (id: string) => `conv/${id}/msg/`,
  conversationPrefix: 'conv/',
  outbox: (key: string) => `outbox/${key}`,
  outboxPrefix: 'outbox/',
  conversationTag: (tag: string) => `tag/${tag}`,
  /** A business message's commitment, signature, opening and text, by message id (for disputes). */
  audited: (messageId: string) => `audited/${messageId}`,
  /** New keys persisted before the server logged their rotation (key-rotation.ts). */
  rotationPending: 'keys/rotation-pending',
  /** Present while a conversation may still carry this device's replaced keys (key-rotation.ts). */
  rekeyPending: 'keys/rekey-pending',
} as const;

/** The device's own identity as persisted (secret). */
export interface DeviceRecordV1 {
  v: 1;
  deviceId: DeviceId;
  identityId: IdentityId;
  kind: string | undefined;
  label: string | undefined;
  serverUrl: string;
  suite: string;
  /** Every suite the device stated in the key log (absent: `[suite]`), and the statement's seq. */
  suites?: string[];
  suitesSeq?: number;
  /** base64 Ed25519 seed; absent when an external signer holds the key (`identityKeyRef`). */
  identityPrivateKey?: string;
  identityPublicKey: string;
  /** base64 random 32 bytes naming an identity key held by an external signer (no secret). */
  identityKeyRef?: string;
  /** base64 MLS signature private key; absent when an external signer holds the key (`signatureKeyRef`). */
  signaturePrivateKey?: string;
  signaturePublicKey: string;
  /**
   * base64 random 32 bytes standing for an MLS signature key held by an external signer: what
   * ts-mls keeps in group state in the key's place (`withExternalSignatureKey`). No secret.
   */
  signatureKeyRef?: string;
  registered: boolean;
  /** `pending` until another device of the identity approved this one. */
  status?: 'active' | 'pending';
  /** The key directory's log and VRF keys (pinned by the app, or learnt at enrollment). */
  anchors?: KeyDirectoryAnchors;
}

/** The suites a device record states (`[suite]` for a device enrolled before suites were stated). */
export function statedSuites(record: Pick<DeviceRecordV1, 'suite' | 'suites'>): readonly string[] {
  return record.suites ?? [record.suite];
}

export interface KeyPackageRecordV1 {
  v: 1;
  keyPackage: string;
  privateKey: string;
  lastResort: boolean;
  createdAt: string;
  /** End of the KeyPackage's lifetime (RFC 3339). Absent in records written before lifetimes were configurable: createdAt + 28 days. */
  notAfter?: string;
}

/** The last update of this device's own leaf in a conversation (post-compromise security, maintenance.ts). */
export interface SelfUpdateRecordV1 {
  v: 1;
  /** This device's clock when the update commit was accepted (RFC 3339). */
  at: string;
  /** The epoch the update commit led to (decimal). */
  epoch: string;
}

export interface ConversationMeta {
  v: 2;
  conversationId: ConversationId;
  createdAt: string;
  /** False after this device was removed. */
  active: boolean;
  /** Created for chosen devices only (`createConversation` `only`): new devices are not added by themselves. */
  chosenDevices?: boolean;
}

export function putJson(name: string, value: unknown): KeyStoreOp {
  return { op: 'put', name, value: utf8(JSON.stringify(value)) };
}

export async function getJson<T>(store: KeyStore, name: string): Promise<T | undefined> {
  const bytes = await store.get(name);
  return bytes === undefined ? undefined : (JSON.parse(fromUtf8(bytes)) as T);
}

/** A sort key that orders records by time (ms, zero padded) then by id. */
export function timeSortKey(date: Date, id: string): string {
  return `${String(date.getTime()).padStart(15, '0')}-${id}`;
}

/** What a device keeps of an audited message it sent or received: enough to export and open its evidence. */
export interface AuditedMessageV1 {
  v: 1;
  direction: 'in' | 'out';
  conversationId: string;
  commitment: Commitment;
  /** base64 signature of the sending device over the commitment. */
  signature: string;
  /** base64 opening (secret: it never leaves the device unless revealed for a dispute). */
  opening: string;
  text: string;
}

/** A message on its way out: ratchet already persisted, resubmitted with the same key until the server accepts it. */
export interface OutboxRecordV1 {
  v: 1;
  request: SubmitRequest;
  messageId: string;
  epoch: string;
}

/** A commit submitted but not yet known to be accepted, with the group state it leads to (base64). */
export interface PendingCommitV1 {
  v: 1;
  request: SubmitRequest;
  state: string;
}

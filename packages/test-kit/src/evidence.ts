/**
 * Real evidence bundles built from the core primitives alone, no server: a key log and an
 * audit log (RFC 6962 trees from `rootOfLeaves` and the naive RFC 6962 §2.1.1 path
 * generator), their signed checkpoints (C2SP signed note), ECVRF labels, attested key-log
 * entries, a signed commitment and signed receipts. Tests tamper with the pieces and
 * re-assemble.
 */
import {
  ecvrfProofToHash,
  ecvrfProve,
  ecvrfPublicKey,
  equalBytes,
  generateIdentityKeyPair,
  randomBytes,
  signEd25519,
  toBase64,
  toBase64Url,
  type IdentityKeyPair,
  type KeyLookupResponse,
} from '@parley/core';
import { approvalMessage, attestationMessage, encodeKeyLogEntry, labelInput, revocationMessage, type KeyLogEntry } from '@parley/core/keylog';
import { formatCheckpoint, generateSignerKey, leafHash, parseSignerKey, rootOfLeaves, signNote, type LocalSigner } from '@parley/core/tlog';
import {
  commitmentEntry,
  contentCommitment,
  encodeAuditEntry,
  receiptEntry,
  signCommitment,
  signReceipt,
  type AuditInclusion,
  type Commitment,
  type EvidenceBundle,
  type EvidenceTrust,
  type Receipt,
  type ReceiptStatus,
} from '@parley/core/audit';

export const AUDIT_ORIGIN = 'parley.test/logs/audit';
export const KEY_ORIGIN = 'parley.test/logs/keys';

export interface Device {
  readonly deviceId: string;
  readonly keys: IdentityKeyPair;
  readonly signatureKey: Uint8Array;
}

export interface Party {
  readonly identityId: string;
  readonly label: Uint8Array;
  readonly vrfProof: Uint8Array;
  readonly devices: Device[];
}

/** A fresh device id (base64url, 22 chars). */
export function newId(): string {
  return toBase64Url(randomBytes(16));
}

export function newDevice(): Device {
  return { deviceId: newId(), keys: generateIdentityKeyPair(), signatureKey: randomBytes(32) };
}

/** The two logs, the key directory and the parties; append-only, as a server would keep them. */
export class World {
  readonly keyLogSeed = randomBytes(32);
  readonly keyLogKey: string;
  readonly keyLogSigner: LocalSigner;
  readonly auditSigner: LocalSigner;
  readonly auditLogKey: string;
  readonly vrfSecret = randomBytes(32);
  readonly vrfPublicKey = ecvrfPublicKey(this.vrfSecret);
  readonly keyLog: Uint8Array[] = [];
  readonly auditLog: Uint8Array[] = [];

  constructor() {
    const keyLog = generateSignerKey(KEY_ORIGIN, { seed: this.keyLogSeed });
    this.keyLogSigner = parseSignerKey(keyLog.signerKey);
    this.keyLogKey = keyLog.verifierKey;
    const audit = generateSignerKey(AUDIT_ORIGIN);
    this.auditSigner = parseSignerKey(audit.signerKey);
    this.auditLogKey = audit.verifierKey;
  }

  get trust(): EvidenceTrust {
    return { auditLogKey: this.auditLogKey, keyLogKey: this.keyLogKey, vrfPublicKey: toBase64(this.vrfPublicKey) };
  }

  party(identityId: string): Party {
    const vrfProof = ecvrfProve(this.vrfSecret, labelInput(identityId));
    return { identityId, label: ecvrfProofToHash(vrfProof).slice(0, 32), vrfProof, devices: [] };
  }

  /** Attests an entry with the key-log key (its `attestation` is replaced). */
  attest(entry: KeyLogEntry, seed = this.keyLogSeed): KeyLogEntry {
    const draft = { ...entry, attestation: 'A'.repeat(86) } as KeyLogEntry;
    return { ...draft, attestation: toBase64Url(signEd25519(seed, attestationMessage(draft))) } as KeyLogEntry;
  }

  appendKeyLog(entry: KeyLogEntry): number {
    this.keyLog.push(encodeKeyLogEntry(entry));
    return this.keyLog.length - 1;
  }

  addedEntry(party: Party, device: Device, approval: 'enrollment' | 'pending', kind: 'customer' | 'sender' = 'customer', time = '2025-01-01T00:00:00Z'): KeyLogEntry {
    return this.attest({
      v: 1,
      type: 'device-added',
      label: toBase64Url(party.label),
      deviceId: device.deviceId,
      time,
      kind,
      identityKey: toBase64Url(device.keys.publicKey),
      signatureKey: toBase64Url(device.signatureKey),
      suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
      approval,
      attestation: '',
    });
  }

  addDevice(party: Party, approval: 'enrollment' | 'pending', kind: 'customer' | 'sender' = 'customer', device = newDevice(), time?: string): Device {
    this.appendKeyLog(this.addedEntry(party, device, approval, kind, time));
    if (!party.devices.includes(device)) party.devices.push(device);
    return device;
  }

  approve(party: Party, device: Device, by: Device): void {
    const label = toBase64Url(party.label);
    const message = approvalMessage({
      label,
      deviceId: device.deviceId,
      identityKey: toBase64Url(device.keys.publicKey),
      signatureKey: toBase64Url(device.signatureKey),
    });
    this.appendKeyLog(
      this.attest({
        v: 1,
        type: 'device-approved',
        label,
        deviceId: device.deviceId,
        time: '2025-01-01T00:01:00Z',
        approvedBy: by.deviceId,
        signature: toBase64Url(signEd25519(by.keys.privateKey, message)),
        attestation: '',
      }),
    );
  }

  revoke(party: Party, device: Device, by: Device, time: string): void {
    const label = toBase64Url(party.label);
    this.appendKeyLog(
      this.attest({
        v: 1,
        type: 'device-revoked',
        label,
        deviceId: device.deviceId,
        time,
        by: 'owner',
        byDevice: by.deviceId,
        signature: toBase64Url(signEd25519(by.keys.privateKey, revocationMessage({ label, deviceId: device.deviceId, byDevice: by.deviceId }))),
        attestation: '',
      }),
    );
  }

  appendAudit(entry: Uint8Array): number {
    this.auditLog.push(entry);
    return this.auditLog.length - 1;
  }

  /** A commitment entry of some other message, as a busy log would hold. */
  auditFiller(): void {
    this.appendAudit(encodeAuditEntry({ v: 1, type: 'commitment', commitment: toBase64Url(randomBytes(32)) }));
  }
}

/** RFC 6962 §2.1.1 PATH(m, D[n]) straight from the recursive definition, over leaf hashes. */
export function naiveInclusionProof(leaves: readonly Uint8Array[], m: number): Uint8Array[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  if (m < k) return [...naiveInclusionProof(leaves.slice(0, k), m), rootOfLeaves(leaves.slice(k))];
  return [...naiveInclusionProof(leaves.slice(k), m - k), rootOfLeaves(leaves.slice(0, k))];
}

export async function signCheckpoint(leaves: readonly Uint8Array[], signer: LocalSigner, origin = signer.name): Promise<string> {
  const rootHash = rootOfLeaves(leaves.map((e) => leafHash(e)));
  return signNote(formatCheckpoint({ origin, treeSize: leaves.length, rootHash }), [signer]);
}

/** The inclusion of `entry` in `log` (its first occurrence; index 0's proof when absent). */
export function inclusionIn(log: readonly Uint8Array[], entry: Uint8Array): { index: number; proof: string[] } {
  const found = log.findIndex((e) => equalBytes(e, entry));
  const index = found < 0 ? 0 : found;
  return { index, proof: naiveInclusionProof(log.map((e) => leafHash(e)), index).map(toBase64) };
}

export function auditInclusion(log: readonly Uint8Array[], entry: Uint8Array): AuditInclusion {
  return { entry: toBase64(entry), ...inclusionIn(log, entry) };
}

export function lookup(world: World, party: Party, checkpoint: string): KeyLookupResponse {
  const leaves = world.keyLog.map((e) => leafHash(e));
  const label = toBase64Url(party.label);
  const entries: KeyLookupResponse['entries'] = [];
  world.keyLog.forEach((bytes, index) => {
    const entry = JSON.parse(new TextDecoder().decode(bytes)) as KeyLogEntry;
    if (entry.label === label) entries.push({ index, entry: toBase64(bytes), proof: naiveInclusionProof(leaves, index).map(toBase64) });
  });
  return { identityId: party.identityId, label: toBase64(party.label), vrfProof: toBase64(party.vrfProof), checkpoint, entries };
}

export interface SignedReceipt {
  readonly receipt: Receipt;
  readonly signature: string;
}

export function commitmentFor(sender: Party, device: Device, recipient: Party, opening: Uint8Array, plaintext: string, createdAt = '2025-03-04T05:06:07.123Z'): Commitment {
  return {
    v: 1,
    messageId: newId(),
    conversationId: newId(),
    sender: { identityId: sender.identityId, deviceId: device.deviceId },
    recipient: recipient.identityId,
    class: 'otp',
    createdAt,
    contentCommitment: toBase64Url(contentCommitment(opening, plaintext)),
  };
}

export function receiptFor(commitment: Commitment, identityId: string, device: Device, status: ReceiptStatus, time = '2025-03-04T05:06:09Z', signer = device.keys.privateKey): SignedReceipt {
  const receipt: Receipt = {
    v: 1,
    messageId: commitment.messageId,
    commitmentHash: commitmentEntry(commitment).commitment,
    identityId,
    deviceId: device.deviceId,
    status,
    time,
  };
  return { receipt, signature: toBase64(signReceipt(signer, receipt)) };
}

/** Everything a bundle is assembled from; tests change pieces, then call {@link assemble}. */
export interface Scenario {
  readonly world: World;
  readonly bank: Party;
  readonly customer: Party;
  /** A third identity of the same business (never part of the message). */
  readonly stranger: Party;
  readonly bankDevice: Device;
  readonly phone: Device;
  readonly tablet: Device;
  commitment: Commitment;
  commitmentSignature: string;
  receipts: SignedReceipt[];
  readonly plaintext: string;
  readonly opening: Uint8Array;
}

/**
 * The honest story: Example Bank's sender device sends a one-time code to a customer with a
 * phone and an approved tablet; both devices confirm delivery, the phone also reading it.
 * Every commitment and receipt is in the audit log, with other traffic around it.
 */
export function honestScenario(): Scenario {
  const world = new World();
  const bank = world.party('example-bank:notifications');
  const customer = world.party('example-bank:c-1001');
  const stranger = world.party('example-bank:c-2002');
  world.addDevice(stranger, 'enrollment');
  const bankDevice = world.addDevice(bank, 'enrollment', 'sender');
  const phone = world.addDevice(customer, 'enrollment');
  const tablet = world.addDevice(customer, 'pending');
  world.approve(customer, tablet, phone);
  world.addDevice(stranger, 'pending');

  const plaintext = 'Your Example Bank code is 493817';
  const opening = randomBytes(32);
  const commitment = commitmentFor(bank, bankDevice, customer, opening, plaintext);
  const commitmentSignature = toBase64(signCommitment(bankDevice.keys.privateKey, commitment));
  const receipts = [
    receiptFor(commitment, customer.identityId, phone, 'delivered', '2025-03-04T05:06:08.5Z'),
    receiptFor(commitment, customer.identityId, tablet, 'delivered'),
    receiptFor(commitment, customer.identityId, phone, 'read', '2025-03-04T05:07:00Z'),
  ];
  world.auditFiller();
  world.auditFiller();
  world.appendAudit(encodeAuditEntry(commitmentEntry(commitment)));
  world.auditFiller();
  for (const r of receipts) {
    world.appendAudit(encodeAuditEntry(receiptEntry(r.receipt)));
    world.auditFiller();
  }
  return { world, bank, customer, stranger, bankDevice, phone, tablet, commitment, commitmentSignature, receipts, plaintext, opening };
}

export interface AssembleOptions {
  /** Put the opening and plaintext into the bundle. */
  readonly reveal?: boolean;
  /** Sign the audit checkpoint over these leaves instead of the world's audit log. */
  readonly auditCheckpointLeaves?: readonly Uint8Array[];
}

/** Signs both checkpoints over the current logs and assembles the bundle with proofs against them. */
export async function assemble(s: Scenario, options: AssembleOptions = {}): Promise<EvidenceBundle> {
  const { world } = s;
  const auditCheckpoint = await signCheckpoint(options.auditCheckpointLeaves ?? world.auditLog, world.auditSigner);
  const keyCheckpoint = await signCheckpoint(world.keyLog, world.keyLogSigner);
  const bundle: EvidenceBundle = {
    v: 1,
    commitment: s.commitment,
    commitmentSignature: s.commitmentSignature,
    audit: auditInclusion(world.auditLog, encodeAuditEntry(commitmentEntry(s.commitment))),
    receipts: s.receipts.map((r) => ({
      receipt: r.receipt,
      signature: r.signature,
      audit: auditInclusion(world.auditLog, encodeAuditEntry(receiptEntry(r.receipt))),
    })),
    auditCheckpoint,
    keyLog: {
      checkpoint: keyCheckpoint,
      vrfPublicKey: toBase64(world.vrfPublicKey),
      identities: [lookup(world, s.bank, keyCheckpoint), lookup(world, s.customer, keyCheckpoint)],
    },
  };
  if (options.reveal) {
    bundle.opening = toBase64(s.opening);
    bundle.plaintext = s.plaintext;
  }
  return bundle;
}

/** A deep copy, to tamper with. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

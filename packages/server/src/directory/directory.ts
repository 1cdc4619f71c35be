/**
 * The key directory on the key transparency log. Every change of a device's
 * keys becomes a log entry (RFC 8785 canonical JSON, attested by the directory
 * key) in the same transaction as the change itself, under the identity's VRF
 * label (RFC 9381) so log readers cannot tell whose keys they see. A lookup
 * returns the label's proof and every entry with its inclusion proof against
 * the latest signed checkpoint.
 */
import type { Logger } from 'pino';
import {
  ecvrfProofToHash,
  ecvrfProve,
  toBase64,
  toBase64Url,
  type IdentityKind,
  type KeyLookupResponse,
} from '@parley/core';
import { encodeKeyLogEntry, attestationMessage, labelInput, type KeyLogEntry } from '@parley/core/keylog';
import type { Signer } from '@parley/core/tlog';
import type { Sql } from '../storage/database.js';
import type { VrfKey } from './vrf-key.js';

/** What the directory needs from the transparency-log engine. */
export interface KeyLogWriter {
  readonly name: string;
  readonly origin: string;
  readonly verifierKey: string;
  append(tx: Sql, entry: Uint8Array, label?: Uint8Array): Promise<string>;
  kick?(): void;
  waitSequenced(pendingId: string): Promise<{ index: number }>;
  latestCheckpoint(): Promise<{ size: number; rootHash: Uint8Array; note: string }>;
  entriesByLabel(label: Uint8Array): Promise<{ index: number; entry: Uint8Array }[]>;
  inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]>;
  /** The log's key-rotation announcements, oldest first (evidence bundles carry them). */
  keyRotations?(): Promise<string[]>;
}

/** A key-log entry before the directory attests it. */
type Unattested = KeyLogEntry extends infer E ? (E extends KeyLogEntry ? Omit<E, 'attestation'> : never) : never;

export interface IdentityLabel {
  readonly label: Uint8Array;
  readonly vrfProof: Uint8Array;
}

export class KeyDirectory {
  constructor(
    private readonly db: Sql,
    readonly keyLog: KeyLogWriter,
    private readonly vrf: VrfKey,
    private readonly attestor: Signer,
    private readonly log: Logger,
  ) {}

  get vrfPublicKey(): Uint8Array {
    return this.vrf.publicKey;
  }

  /**
   * The identity's label and VRF proof (computed once, then read from the database). With
   * `persist: false` (a lookup of an identity that may not exist, e.g. a web-link customer
   * in an evidence bundle) nothing is stored: the VRF is deterministic, the label the same.
   */
  async labelOf(sql: Sql, identityId: string, persist = true): Promise<IdentityLabel> {
    const rows = await sql.query<{ label: Uint8Array; vrf_proof: Uint8Array }>(
      'SELECT label, vrf_proof FROM identity_labels WHERE identity_id = $1',
      [identityId],
    );
    if (rows[0]) return { label: new Uint8Array(rows[0].label), vrfProof: new Uint8Array(rows[0].vrf_proof) };
    const vrfProof = ecvrfProve(this.vrf.secretKey, labelInput(identityId));
    const label = ecvrfProofToHash(vrfProof).slice(0, 32);
    if (!persist) return { label, vrfProof };
    await sql.query('INSERT INTO identity_labels (identity_id, label, vrf_proof) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
      identityId,
      label,
      vrfProof,
    ]);
    return { label, vrfProof };
  }

  private async attested(entry: Unattested): Promise<KeyLogEntry> {
    // The attestation field is signed over everything else (see attestationMessage).
    const draft = { ...entry, attestation: 'A'.repeat(86) } as KeyLogEntry;
    const signature = await this.attestor.sign(attestationMessage(draft));
    return { ...draft, attestation: toBase64Url(signature) } as KeyLogEntry;
  }

  private async append(tx: Sql, label: Uint8Array, entry: Unattested): Promise<string> {
    const full = await this.attested(entry);
    return this.keyLog.append(tx, encodeKeyLogEntry(full), label);
  }

  /** Logs a newly registered device, inside the registration transaction. */
  async deviceAdded(
    tx: Sql,
    device: {
      identityId: string;
      deviceId: string;
      kind: IdentityKind;
      identityKey: Uint8Array;
      signatureKey: Uint8Array;
      suite: string;
      /** The suites the device signed (`suitesProof`), when it stated them. */
      suites?: { names: readonly string[]; proof: Uint8Array };
      approval: 'enrollment' | 'pending';
    },
  ): Promise<string> {
    const { label } = await this.labelOf(tx, device.identityId);
    return this.append(tx, label, {
      v: 1,
      type: 'device-added',
      label: toBase64Url(label),
      deviceId: device.deviceId,
      time: new Date().toISOString(),
      kind: device.kind,
      identityKey: toBase64Url(device.identityKey),
      signatureKey: toBase64Url(device.signatureKey),
      suite: device.suite,
      ...(device.suites ? { suites: [...device.suites.names], suitesProof: toBase64Url(device.suites.proof) } : {}),
      approval: device.approval,
    });
  }

  /** Logs a device's newer suites statement (signed by its identity key), inside the caller's transaction. */
  async deviceSuites(tx: Sql, input: { identityId: string; deviceId: string; seq: number; suites: readonly string[]; signature: Uint8Array }): Promise<string> {
    const { label } = await this.labelOf(tx, input.identityId);
    return this.append(tx, label, {
      v: 1,
      type: 'device-suites',
      label: toBase64Url(label),
      deviceId: input.deviceId,
      time: new Date().toISOString(),
      seq: input.seq,
      suites: [...input.suites],
      signature: toBase64Url(input.signature),
    });
  }

  async deviceApproved(tx: Sql, input: { identityId: string; deviceId: string; approvedBy: string; signature: Uint8Array }): Promise<string> {
    const { label } = await this.labelOf(tx, input.identityId);
    return this.append(tx, label, {
      v: 1,
      type: 'device-approved',
      label: toBase64Url(label),
      deviceId: input.deviceId,
      time: new Date().toISOString(),
      approvedBy: input.approvedBy,
      signature: toBase64Url(input.signature),
    });
  }

  async deviceRotated(
    tx: Sql,
    input: { identityId: string; deviceId: string; identityKey: Uint8Array; signatureKey: Uint8Array; signature: Uint8Array; proof: Uint8Array },
  ): Promise<string> {
    const { label } = await this.labelOf(tx, input.identityId);
    return this.append(tx, label, {
      v: 1,
      type: 'device-rotated',
      label: toBase64Url(label),
      deviceId: input.deviceId,
      time: new Date().toISOString(),
      identityKey: toBase64Url(input.identityKey),
      signatureKey: toBase64Url(input.signatureKey),
      signature: toBase64Url(input.signature),
      proof: toBase64Url(input.proof),
    });
  }

  async deviceRevoked(
    tx: Sql,
    input: { identityId: string; deviceId: string; by: 'owner' | 'business' | 'reset'; byDevice?: string; signature?: Uint8Array },
  ): Promise<string> {
    const { label } = await this.labelOf(tx, input.identityId);
    return this.append(tx, label, {
      v: 1,
      type: 'device-revoked',
      label: toBase64Url(label),
      deviceId: input.deviceId,
      time: new Date().toISOString(),
      by: input.by,
      ...(input.byDevice ? { byDevice: input.byDevice } : {}),
      ...(input.signature ? { signature: toBase64Url(input.signature) } : {}),
    });
  }

  /** Every entry of an identity with inclusion proofs against the latest (or the given) checkpoint. */
  async lookup(identityId: string, at?: { size: number; note: string }): Promise<KeyLookupResponse> {
    const { label, vrfProof } = await this.labelOf(this.db, identityId, false);
    const checkpoint = at ?? (await this.keyLog.latestCheckpoint());
    const entries = (await this.keyLog.entriesByLabel(label)).filter((e) => e.index < checkpoint.size);
    const withProofs = await Promise.all(
      entries.map(async (e) => ({
        index: e.index,
        entry: toBase64(e.entry),
        proof: (await this.keyLog.inclusionProof(e.index, checkpoint.size)).map(toBase64),
      })),
    );
    this.log.debug({ entries: withProofs.length, treeSize: checkpoint.size }, 'key lookup');
    return { identityId, label: toBase64(label), vrfProof: toBase64(vrfProof), checkpoint: checkpoint.note, entries: withProofs };
  }
}

/**
 * Verifiable keys for the SDK. The server publishes every device key in a
 * transparency log (RFC 9162 Merkle tree, C2SP signed checkpoints); this module
 * never takes a key from the server without proof:
 *
 * - a checkpoint must be signed by the pinned log key and be consistent with
 *   the last checkpoint this device verified (else `key_log_rollback` or
 *   `key_log_fork`);
 * - a lookup's label must be the VRF output for the identity (RFC 9381;
 *   `key_log_bad_vrf`), and every entry must be included in the checkpoint
 *   (`key_log_bad_proof`);
 * - the entries must replay cleanly: attested, approvals and owner revocations
 *   signed by approved devices (`key_log_inconsistent`).
 *
 * A business sender additionally follows the whole log (tiles and entry
 * bundles), so a revocation the server leaves out of a lookup is still seen.
 *
 * The key-log key can rotate (docs/log-key-rotation.md): a checkpoint not signed by
 * the key this device trusts is accepted only when the log's announcements
 * (`<prefix>/key-rotations`), each signed by a trusted key and the new key, chain
 * the trusted key to a key that signs it; the device then trusts that key (kept in
 * its store) and accepts attestations by every key of the chain from the index its
 * announcement started at. Any other key is `key_log_bad_signature` with
 * `details.reason` `unannounced_key_change`.
 */
import {
  ecvrfVerify,
  equalBytes,
  fromBase64,
  isParleyError,
  parseIdentityId,
  toBase64,
  toBase64Url,
  type IdentityId,
  type KeyLookupResponse,
} from '@parley/core';
import { decodeKeyLogEntry, labelInput, replayIdentity, type AttestationKey, type DeviceKeyState, type LoggedEntry } from '@parley/core/keylog';
import {
  leafHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  type Ed25519NoteVerifier,
} from '@parley/core/tlog';
import type { ApiClient } from './api-client.js';
import { ClientError, type KeyTransparencyErrorCode } from './errors.js';
import { announcedPath, announcedPredecessors } from './key-log-rotation.js';
import type { KeyStore } from './key-store.js';
import { getJson, putJson } from './records.js';

/**
 * A key-log check failed: the server (or something between) is lying or broken.
 * Raised on the device: no HTTP status is chosen.
 *
 * @example
 * if (error instanceof KeyTransparencyError && error.code === 'key_log_fork') alertUser()
 */
export class KeyTransparencyError extends ClientError {
  declare readonly code: KeyTransparencyErrorCode;

  constructor(code: KeyTransparencyErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details ? { details } : {});
    this.name = 'KeyTransparencyError';
  }
}

/**
 * What the app pins (or learns once, on first use) about the server's key directory.
 *
 * @example
 * const info = await new ApiClient({ serverUrl }).keyDirectoryInfo() // read once, out of band, and ship in the app
 * const keyDirectory: KeyDirectoryAnchors = { log: info.log, origin: info.origin, logVerifierKey: info.verifierKey, vrfPublicKey: info.vrfPublicKey, prefix: `/logs/${info.log}` }
 * const phone = await Device.enroll({ serverUrl, enrollmentToken, store, keyDirectory, ...nodeRuntime })
 */
export interface KeyDirectoryAnchors {
  /** C2SP signed-note verifier key of the key log. */
  readonly logVerifierKey: string;
  /** base64 ECVRF public key. */
  readonly vrfPublicKey: string;
  /** Checkpoint origin line of the key log. */
  readonly origin: string;
  /** Path prefix of the log's tiles (`/logs/keys`). */
  readonly prefix: string;
  readonly log: string;
}

/**
 * A key-log checkpoint whose signature (and consistency, once verified) was checked.
 *
 * @example
 * const checkpoint: VerifiedCheckpoint = verifier.openCheckpoint(note)
 * console.log(checkpoint.size)
 */
export interface VerifiedCheckpoint {
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
}

/**
 * An identity's devices as the verified key log shows them (`KeyLogVerifier.lookup`).
 *
 * @example
 * const { devices, checkpoint } = await verifier.lookup('acme:c-1001')
 * const approved = [...devices.values()].filter((d) => d.status === 'approved')
 */
export interface VerifiedIdentity {
  readonly identityId: IdentityId;
  readonly label: Uint8Array;
  readonly devices: ReadonlyMap<string, DeviceKeyState>;
  readonly checkpoint: VerifiedCheckpoint;
}

const CHECKPOINT_RECORD = 'keylog/checkpoint';
/** The key-log keys followed through announced rotations after the pinned one. */
const KEYS_RECORD = 'keylog/keys';

interface StoredKeys {
  keys: { verifierKey: string; fromIndex: number }[];
  /** Keys that preceded the pinned one (announced before this device enrolled), once looked up. */
  predecessors?: string[];
}

interface ChainKey {
  readonly verifier: Ed25519NoteVerifier;
  readonly fromIndex: number;
}

interface StoredCheckpoint {
  size: number;
  rootHash: string;
  note: string;
}

/**
 * Checks everything the server says about keys: signed, consistent checkpoints, VRF labels, inclusion proofs and the
 * replay of an identity's entries. Every device has one (`Device.keys` uses it); a monitor can run one on its own.
 *
 * @example
 * const verifier = new KeyLogVerifier(new ApiClient({ serverUrl }), new MemoryKeyStore(), pinnedAnchors)
 * const { devices } = await verifier.lookup('acme:c-1001')
 */
export class KeyLogVerifier {
  private readonly verifier: Ed25519NoteVerifier;
  private readonly vrfPublicKey: Uint8Array;
  private last: VerifiedCheckpoint | undefined;
  private loaded = false;
  private checkpointQueue: Promise<unknown> = Promise.resolve();
  /** The pinned key, then the keys followed through announced rotations (newest last). */
  private chain: ChainKey[];
  private keysLoaded = false;
  /** Keys that preceded the pinned one; undefined until needed (an attestation by none of the chain). */
  private predecessors: Ed25519NoteVerifier[] | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: KeyStore,
    readonly anchors: KeyDirectoryAnchors,
  ) {
    this.verifier = parseVerifierKey(anchors.logVerifierKey);
    this.vrfPublicKey = fromBase64(anchors.vrfPublicKey, 'vrfPublicKey');
    this.chain = [{ verifier: this.verifier, fromIndex: 0 }];
  }

  /** The directory's attestation key as pinned (the pinned log key's Ed25519 public key). */
  get attestationKey(): Uint8Array {
    return this.verifier.publicKey;
  }

  /**
   * Every attestation key this device accepts: the pinned one from index 0, then each key
   * followed through an announced rotation from its announcement's start.
   *
   * @example
   * const devices = replayIdentity(label, logged, verifier.attestationKeys)
   */
  get attestationKeys(): readonly AttestationKey[] {
    const older = (this.predecessors ?? []).map((v) => ({ publicKey: v.publicKey, fromIndex: 0 }));
    return [...older, ...this.chain.map((k) => ({ publicKey: k.verifier.publicKey, fromIndex: k.fromIndex }))];
  }

  /**
   * Replays an identity's entries under {@link attestationKeys}. When an attestation verifies
   * under none of them, looks once for keys that preceded the pinned one (a device enrolled
   * after a key rotation) and replays again. `key_log_inconsistent` otherwise.
   *
   * @example
   * const devices = await verifier.replay(label, logged)
   */
  async replay(label: string, entries: readonly LoggedEntry[]): Promise<Map<string, DeviceKeyState>> {
    await this.loadKeys();
    try {
      return replay(label, entries, this.attestationKeys);
    } catch (error) {
      if (this.predecessors !== undefined) throw error;
    }
    const older = await announcedPredecessors(this.api, this.anchors, this.verifier);
    this.predecessors = older.map((k) => parseVerifierKey(k));
    const followed = this.chain.slice(1).map((k) => ({ verifierKey: k.verifier.verifierKey, fromIndex: k.fromIndex }));
    await this.store.write([putJson(KEYS_RECORD, { keys: followed, predecessors: older } satisfies StoredKeys)]);
    return replay(label, entries, this.attestationKeys);
  }

  /**
   * The verifier key checkpoints must be signed by now: the pinned key, or the newest key
   * followed through announced rotations.
   *
   * @example
   * console.log(verifier.logVerifierKey)
   */
  get logVerifierKey(): string {
    return this.chain[this.chain.length - 1]!.verifier.verifierKey;
  }

  private async loadKeys(): Promise<void> {
    if (this.keysLoaded) return;
    const stored = await getJson<StoredKeys>(this.store, KEYS_RECORD);
    this.chain = [{ verifier: this.verifier, fromIndex: 0 }, ...(stored?.keys ?? []).map((k) => ({ verifier: parseVerifierKey(k.verifierKey), fromIndex: k.fromIndex }))];
    if (stored?.predecessors !== undefined) this.predecessors = stored.predecessors.map((k) => parseVerifierKey(k));
    this.keysLoaded = true;
  }

  /** {@link openCheckpoint}, following an announced key rotation when the trusted key did not sign the note. */
  private async openFollowing(note: string): Promise<VerifiedCheckpoint> {
    await this.loadKeys();
    try {
      return this.openCheckpoint(note);
    } catch (error) {
      if (!(error instanceof KeyTransparencyError && error.details?.['reason'] === 'tlog_note_unverified')) throw error;
    }
    await this.followRotation(note);
    return this.openCheckpoint(note);
  }

  /** Trusts the key that signs `note` if the trusted key announced it (key-log-rotation.ts); else `key_log_bad_signature`. */
  private async followRotation(note: string): Promise<void> {
    const path = await announcedPath(this.api, this.anchors, this.chain[this.chain.length - 1]!.verifier, note);
    const followed = this.chain.slice(1).map((k) => ({ verifierKey: k.verifier.verifierKey, fromIndex: k.fromIndex }));
    const older = this.predecessors?.map((v) => v.verifierKey);
    await this.store.write([putJson(KEYS_RECORD, { keys: [...followed, ...path], ...(older === undefined ? {} : { predecessors: older }) } satisfies StoredKeys)]);
    this.chain = [...this.chain, ...path.map((k) => ({ verifier: parseVerifierKey(k.verifierKey), fromIndex: k.fromIndex }))];
  }

  /**
   * The newest checkpoint this device verified, if any.
   *
   * @example
   * const last = await verifier.lastCheckpoint()
   * console.log(last?.size ?? 0)
   */
  async lastCheckpoint(): Promise<VerifiedCheckpoint | undefined> {
    if (!this.loaded) {
      const stored = await getJson<StoredCheckpoint>(this.store, CHECKPOINT_RECORD);
      if (stored) this.last = { size: stored.size, rootHash: fromBase64(stored.rootHash), note: stored.note };
      this.loaded = true;
    }
    return this.last;
  }

  /**
   * Opens and checks a checkpoint note: signature (by the pinned key, or the newest key followed
   * through announced rotations), origin, well-formedness (not consistency: see `verifyCheckpoint`).
   *
   * @example
   * const { size, rootHash } = verifier.openCheckpoint(note) // `key_log_bad_signature` if not signed by the pinned key
   */
  openCheckpoint(note: string): VerifiedCheckpoint {
    let text: string;
    try {
      text = openNote(note, [this.chain[this.chain.length - 1]!.verifier]).text;
    } catch (cause) {
      throw new KeyTransparencyError('key_log_bad_signature', 'the checkpoint is not signed by the pinned log key', {
        reason: isParleyError(cause) ? cause.code : 'invalid',
      });
    }
    const checkpoint = parseCheckpoint(text);
    if (checkpoint.origin !== this.anchors.origin) {
      throw new KeyTransparencyError('key_log_origin_mismatch', 'the checkpoint belongs to another log');
    }
    return { size: checkpoint.treeSize, rootHash: checkpoint.rootHash, note };
  }

  /**
   * Verifies a checkpoint and its consistency with the last one this device
   * verified; remembers it when it is newer. Serialized, so concurrent lookups
   * cannot interleave their updates.
   *
   * @example
   * const note = new TextDecoder().decode(await api.fetchLogResource(anchors.prefix, 'checkpoint'))
   * const checkpoint = await verifier.verifyCheckpoint(note)
   */
  verifyCheckpoint(note: string): Promise<VerifiedCheckpoint> {
    const run = this.checkpointQueue.then(() => this.verifyCheckpointNow(note));
    this.checkpointQueue = run.catch(() => undefined);
    return run;
  }

  private async verifyCheckpointNow(note: string): Promise<VerifiedCheckpoint> {
    const next = await this.openFollowing(note);
    const last = await this.lastCheckpoint();
    if (last) await this.checkConsistent(last, next);
    if (!last || next.size > last.size) {
      const stored: StoredCheckpoint = { size: next.size, rootHash: toBase64(next.rootHash), note: next.note };
      await this.store.write([putJson(CHECKPOINT_RECORD, stored)]);
      this.last = next;
    }
    return next;
  }

  /**
   * Throws `key_log_rollback` / `key_log_fork` unless `b` extends (or equals) `a`
   * or `a` extends `b` by a valid RFC 9162 consistency proof.
   *
   * @example
   * await verifier.checkConsistent(verifier.openCheckpoint(yesterday), verifier.openCheckpoint(today))
   */
  async checkConsistent(a: VerifiedCheckpoint, b: VerifiedCheckpoint, options: { allowOlder?: boolean } = {}): Promise<void> {
    if (a.size === b.size) {
      if (!equalBytes(a.rootHash, b.rootHash)) {
        throw new KeyTransparencyError('key_log_fork', 'two checkpoints of the same size have different roots: the log forked', { size: a.size });
      }
      return;
    }
    const [older, newer] = a.size < b.size ? [a, b] : [b, a];
    if (newer === a && !options.allowOlder) {
      throw new KeyTransparencyError('key_log_rollback', 'the server presented an older tree than this device already verified', {
        seen: a.size,
        presented: b.size,
      });
    }
    if (older.size === 0) return;
    const { proof } = await this.api.consistencyProof(this.anchors.log, older.size, newer.size);
    if (!verifyConsistency(older.size, newer.size, proof.map((p) => fromBase64(p)), older.rootHash, newer.rootHash)) {
      throw new KeyTransparencyError('key_log_fork', 'the log is not consistent with a checkpoint seen before: the log forked', {
        from: older.size,
        to: newer.size,
      });
    }
  }

  /**
   * Gossip: checks a checkpoint another party (device, monitor, sender) saw
   * against the ones this device verified. Detects a split view.
   *
   * @example
   * await verifier.compareWithPeer(noteFromMonitor) // KeyTransparencyError `key_log_fork` on a split view
   */
  async compareWithPeer(peerNote: string): Promise<void> {
    const peer = await this.openFollowing(peerNote);
    const mine = await this.lastCheckpoint();
    if (!mine) {
      await this.verifyCheckpoint(peerNote);
      return;
    }
    await this.checkConsistent(mine, peer, { allowOlder: true });
    if (peer.size > mine.size) await this.verifyCheckpoint(peerNote);
  }

  /**
   * Looks an identity up and verifies everything about the answer.
   *
   * @example
   * const { devices } = await verifier.lookup('acme:c-1001')
   * for (const [deviceId, state] of devices) console.log(deviceId, state.status)
   */
  async lookup(identityId: string): Promise<VerifiedIdentity> {
    return this.verifyLookup(identityId, await this.api.keyLookup(identityId));
  }

  /**
   * Verifies a lookup answer obtained some other way (a revocation notice carries one):
   * VRF label, checkpoint signature and consistency, inclusion proofs and the replay.
   *
   * @example
   * const { devices } = await verifier.verifyLookup(identityId, notice)
   */
  async verifyLookup(identityId: string, res: KeyLookupResponse): Promise<VerifiedIdentity> {
    if (res.identityId !== identityId) throw new KeyTransparencyError('key_log_bad_vrf', 'the lookup answered for another identity');
    const label = fromBase64(res.label, 'label');
    const vrf = ecvrfVerify(this.vrfPublicKey, fromBase64(res.vrfProof, 'vrfProof'), labelInput(identityId));
    if (!vrf.valid || !equalBytes(vrf.beta.slice(0, 32), label)) {
      throw new KeyTransparencyError('key_log_bad_vrf', 'the VRF proof does not show that this label belongs to the identity');
    }
    const checkpoint = await this.verifyCheckpoint(res.checkpoint);
    const logged: LoggedEntry[] = [];
    for (const item of res.entries) {
      const bytes = fromBase64(item.entry, 'entry');
      const proof = item.proof.map((p) => fromBase64(p, 'proof'));
      if (item.index >= checkpoint.size || !verifyInclusion(leafHash(bytes), item.index, checkpoint.size, proof, checkpoint.rootHash)) {
        throw new KeyTransparencyError('key_log_bad_proof', 'a key-log entry is not included in the signed tree', { index: item.index });
      }
      logged.push({ index: item.index, entry: decodeKeyLogEntry(bytes) });
    }
    logged.sort((x, y) => x.index - y.index);
    // The response was checked against the wire schema (identity-id pattern): this parse cannot fail.
    return { identityId: parseIdentityId(res.identityId), label, devices: await this.replay(toBase64Url(label), logged), checkpoint };
  }
}

function replay(label: string, entries: readonly LoggedEntry[], attestationKeys: readonly AttestationKey[]): Map<string, DeviceKeyState> {
  try {
    return replayIdentity(label, entries, attestationKeys);
  } catch (cause) {
    throw new KeyTransparencyError('key_log_inconsistent', 'the key-log entries of this identity do not replay', {
      reason: cause instanceof Error ? cause.message : String(cause),
    });
  }
}

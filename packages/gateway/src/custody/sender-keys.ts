/**
 * The sender's identity and MLS signature keys in the business's token, found by label across
 * rotations. `parley gateway init --signer` generates them under the initial labels; each
 * `parley gateway rotate-sender-keys --signer` generates a new pair under fresh labels and the
 * leader switches the sender to it (custody/sender-rotation.ts), after which the labels in use
 * are a gateway setting. Every instance opens the pair whose public keys the sender's record
 * names, so a rotation done by one instance reaches the others (their evidence sessions and
 * their next election) without a restart.
 */
import { toBase64, type Ed25519Signer } from '@parley/core';
import type { DeviceSigners, KeyStore } from '@parley/client';
import type { Sql } from '@parley/server';
import { getSetting, putSettings } from '../storage/settings.js';

/**
 * Token labels of the sender's two keys.
 *
 * @example
 * const labels: SenderKeyLabels = { identity: 'parley-gateway-identity', mls: 'parley-gateway-mls' }
 */
export interface SenderKeyLabels {
  readonly identity: string;
  readonly mls: string;
}

/**
 * The sender's two keys, open in the token.
 *
 * @example
 * const pair = await source.open(labels); try { await pair.identity.sign(bytes) } finally { await pair.close() }
 */
export interface OpenedSenderKeys {
  readonly identity: Ed25519Signer;
  readonly mls: Ed25519Signer;
  close(): Promise<void>;
}

/**
 * Where the sender's keys live (a PKCS#11 token, for `parley gateway --signer`): the labels
 * init made, and how to open a pair by label.
 *
 * @example
 * const source: SenderKeySource = { initialLabels, open: (labels) => openSenderSigners(uri, labels) }
 */
export interface SenderKeySource {
  readonly initialLabels: SenderKeyLabels;
  open(labels: SenderKeyLabels): Promise<OpenedSenderKeys>;
}

const key = (l: SenderKeyLabels) => `${l.identity}\u0000${l.mls}`;

/** @internal One instance's open key pairs, by labels; closed with the instance. */
export class SenderKeyRing {
  readonly #opened = new Map<string, Promise<OpenedSenderKeys>>();

  constructor(
    private readonly db: Sql,
    private readonly source: SenderKeySource,
  ) {}

  /** Opens (once) the pair under `labels`. */
  open(labels: SenderKeyLabels): Promise<OpenedSenderKeys> {
    let pair = this.#opened.get(key(labels));
    if (!pair) {
      pair = this.source.open(labels);
      pair.catch(() => this.#opened.delete(key(labels)));
      this.#opened.set(key(labels), pair);
    }
    return pair;
  }

  /**
   * The pair whose public keys the sender's record (in `store`) names: the labels in use, or
   * those of the last rotation request (a leader stopped between switching the record and
   * recording the labels). Falls back to the labels in use (the sender then fails to open
   * with `signer_mismatch`, which names the problem).
   */
  async signersFor(store: KeyStore): Promise<Required<DeviceSigners>> {
    const bytes = await store.get('device');
    const record = bytes ? (JSON.parse(new TextDecoder().decode(bytes)) as { identityPublicKey?: string; signaturePublicKey?: string }) : {};
    const current = await this.labels();
    const requested = await requestedLabels(this.db);
    for (const labels of requested ? [current, requested] : [current]) {
      const pair = await this.open(labels).catch(() => undefined);
      if (pair && toBase64(pair.identity.publicKey) === record.identityPublicKey && toBase64(pair.mls.publicKey) === record.signaturePublicKey) {
        if (key(labels) !== key(current)) await this.adopt(labels);
        return { identity: pair.identity, mls: pair.mls };
      }
    }
    const pair = await this.open(current);
    return { identity: pair.identity, mls: pair.mls };
  }

  /** The labels in use. */
  async labels(): Promise<SenderKeyLabels> {
    const text = await getSetting(this.db, 'sender_key_labels');
    return text ? (JSON.parse(text) as SenderKeyLabels) : this.source.initialLabels;
  }

  /** Records `labels` as the ones in use (after the sender switched to them). */
  async adopt(labels: SenderKeyLabels): Promise<void> {
    await putSettings(this.db, { sender_key_labels: JSON.stringify({ identity: labels.identity, mls: labels.mls }) });
  }

  async close(): Promise<void> {
    const all = [...this.#opened.values()];
    this.#opened.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }
}

/** The labels the last rotation request named, if it named any. */
async function requestedLabels(db: Sql): Promise<SenderKeyLabels | undefined> {
  const text = await getSetting(db, 'sender_rotation_request');
  return text ? (JSON.parse(text) as { labels?: SenderKeyLabels }).labels : undefined;
}

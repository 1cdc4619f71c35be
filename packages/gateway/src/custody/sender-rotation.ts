/**
 * Rotating the business sender's identity and MLS signature keys while gateway instances run
 * (docs/key-rotation.md). The operator files a request in the gateway's database (`parley
 * gateway rotate-sender-keys`); the instance that holds the sender lease — the only one that
 * may touch the sender's MLS state — pauses sending, rotates (`device.keys.rotate()`: the key
 * log records the change signed by the old key and the new one, every conversation is
 * re-keyed), resumes, and files the outcome. No coordinator and no restart; customers who
 * verified the bank stay verified.
 */
import { randomUUID } from 'node:crypto';
import type { Sender } from '@parley/client';
import { isParleyError } from '@parley/core';
import type { Sql } from '@parley/server';
import { getSetting, putSettings } from '../storage/settings.js';
import type { SenderKeyLabels, SenderKeyRing } from './sender-keys.js';

/**
 * What became of a rotation request: where the key log recorded it and how many conversations
 * were re-keyed, or the error code that stopped it.
 *
 * @example
 * const outcome = await senderRotationOutcome(db, id) // undefined while it waits for the leader
 */
export type SenderRotationOutcome =
  | { readonly id: string; readonly ok: true; readonly index: number; readonly rekeyed: number; readonly failed: readonly string[]; readonly at: string }
  | { readonly id: string; readonly ok: false; readonly code: string; readonly message: string; readonly at: string };

/**
 * Files a request for the leading instance to rotate the sender's keys; returns its id. With
 * `labels`, the new keys are that pair in the token (made beforehand: `parley gateway
 * rotate-sender-keys --signer` does it); without, they are generated and sealed in the database.
 *
 * @example
 * const id = await requestSenderRotation(db)
 */
export async function requestSenderRotation(db: Sql, labels?: SenderKeyLabels): Promise<string> {
  const id = randomUUID();
  await putSettings(db, { sender_rotation_request: JSON.stringify({ id, requestedAt: new Date().toISOString(), ...(labels ? { labels } : {}) }) });
  return id;
}

/**
 * The outcome of request `id`, once the leading instance filed one.
 *
 * @example
 * for (let o; !(o = await senderRotationOutcome(db, id)); ) await sleep(500)
 */
export async function senderRotationOutcome(db: Sql, id: string): Promise<SenderRotationOutcome | undefined> {
  const text = await getSetting(db, 'sender_rotation_result');
  const outcome = text ? (JSON.parse(text) as SenderRotationOutcome) : undefined;
  return outcome?.id === id ? outcome : undefined;
}

export interface SenderRotationFollowerOptions {
  readonly db: Sql;
  readonly sender: Pick<Sender, 'device'>;
  /** Stops sending for the rotation (commitments signed by the key being replaced would be refused) and resumes it. */
  readonly pause: <T>(work: () => Promise<T>) => Promise<T>;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void };
  /** The token's key pairs by label (`--signer`): a request naming labels rotates to that pair. */
  readonly keyRing?: SenderKeyRing;
  readonly intervalMs?: number;
}

/**
 * The leader's side: looks for a request it has not answered, performs it, files the outcome.
 *
 * @example
 * const follower = new SenderRotationFollower({ db, sender, pause, log }); follower.start()
 */
export class SenderRotationFollower {
  readonly #o: SenderRotationFollowerOptions;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #running = false;

  constructor(options: SenderRotationFollowerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#running = true;
    const loop = () => {
      this.#tick = this.pollOnce()
        .catch((error: unknown) => this.#o.log.warn({ err: isParleyError(error) ? error.code : String(error) }, 'gateway: sender key rotation check failed'))
        .then(() => {
          if (this.#running) this.#timer = setTimeout(loop, this.#o.intervalMs ?? 1000);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  /** Performs the pending request, if any; returns its outcome. */
  async pollOnce(): Promise<SenderRotationOutcome | undefined> {
    const text = await getSetting(this.#o.db, 'sender_rotation_request');
    if (!text) return undefined;
    const { id, labels } = JSON.parse(text) as { id: string; labels?: SenderKeyLabels };
    if (await senderRotationOutcome(this.#o.db, id)) return undefined;
    const at = () => new Date().toISOString();
    let outcome: SenderRotationOutcome;
    try {
      const { keyRing } = this.#o;
      const next = labels && keyRing ? await keyRing.open(labels) : undefined;
      const result = await this.#o.pause(() => this.#o.sender.device.keys.rotate(next ? { signers: { identity: next.identity, mls: next.mls } } : {}));
      if (labels && keyRing) await keyRing.adopt(labels);
      outcome = { id, ok: true, index: result.index, rekeyed: result.rekeyed, failed: result.failed, at: at() };
      this.#o.log.info({ keyLogIndex: result.index, rekeyed: result.rekeyed, failed: result.failed.length }, 'gateway: sender keys rotated');
    } catch (error) {
      const code = isParleyError(error) ? error.code : 'rotation_failed';
      outcome = { id, ok: false, code, message: error instanceof Error ? error.message : String(error), at: at() };
      this.#o.log.warn({ err: code }, 'gateway: sender key rotation failed');
    }
    await putSettings(this.#o.db, { sender_rotation_result: JSON.stringify(outcome) });
    return outcome;
  }
}

/**
 * What the cluster benchmark's transports (cluster/transport-*.ts) share with the closed
 * loop in bench/cluster-clients.ts: the loop's callbacks, per-pair state and payloads.
 */
import type { ClusterClientSpec } from '../cluster-clients.js';
import { inPool } from '../lib/async.js';

/** A message in flight. */
export interface Pending {
  readonly sentAt: number;
  acked: boolean;
  deliveredAt: number;
}

/** Everything a transport needs from the shared closed loop. */
export interface Loop {
  readonly spec: ClusterClientSpec;
  /** Sending allowed (false once the measured window ended). */
  sending(): boolean;
  /** A message was sent: record it under its per-pair sequence number. */
  sent(pair: PairState, seq: number): void;
  /** The system acknowledged the publish of `seq`. */
  acked(pair: PairState, seq: number, now: number): void;
  /** The recipient has `seq`. */
  delivered(pair: PairState, seq: number, now: number): void;
  /** A publish failed: the message leaves the window. */
  failed(pair: PairState, seq: number, text: string): void;
  /** The same message arrived again (at-least-once delivery; the recipient dedups it). */
  duplicate(text: string): void;
  error(text: string): void;
}

/** One sender→recipient pair of a transport. */
export interface PairState {
  readonly index: number;
  readonly pending: Map<number, Pending>;
  nextSeq: number;
  /** Sends as many messages as the window allows. */
  fill(): void;
}

/** One system's connections for this child's pairs. */
export interface Transport {
  /** Opens every connection (and subscription); resolves when all are ready to exchange messages. */
  connect(): Promise<number>;
  pairs: PairState[];
  close(): Promise<void>;
}

/**
 * A pair whose `fill()` keeps `windowPerSender` messages in flight: each new sequence
 * number is recorded with the loop, then handed to `publish` (while `canSend()` holds).
 *
 * @example
 * const pair = windowedPair(loop, index, (p, seq) => tx.publish(subject, payloadFor(template, seq)));
 */
export function windowedPair(loop: Loop, index: number, publish: (pair: PairState, seq: number) => void, canSend: () => boolean = () => true): PairState {
  const pair: PairState = {
    index,
    pending: new Map(),
    nextSeq: 0,
    fill() {
      while (loop.sending() && pair.pending.size < loop.spec.windowPerSender && canSend()) {
        const seq = pair.nextSeq++;
        loop.sent(pair, seq);
        publish(pair, seq);
      }
    },
  };
  return pair;
}

/**
 * Connects this child's pairs, `connectConcurrency` at a time; `connect(i)` gets the
 * local index (the global pair is `firstPair + i`). The pairs come back in order.
 *
 * @example
 * pairs.push(...(await connectPairs(loop, spec.pairCount, async (i) => windowedPair(loop, spec.firstPair + i, publish))));
 */
export function connectPairs(loop: Loop, count: number, connect: (i: number) => Promise<PairState>): Promise<PairState[]> {
  return inPool(
    Array.from({ length: count }, (_, i) => i),
    loop.spec.connectConcurrency,
    (i) => connect(i),
  );
}

/**
 * A payload: random bytes, the sequence number in the first 4.
 *
 * @example
 * tx.publish(subject, payloadFor(template, seq));
 */
export function payloadFor(template: Buffer, seq: number): Buffer {
  const b = Buffer.allocUnsafe(template.length);
  template.copy(b);
  b.writeUInt32BE(seq >>> 0, 0);
  return b;
}

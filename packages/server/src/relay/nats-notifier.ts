/**
 * Cross-node "device X has mail" notices over NATS (core NATS, no JetStream: a
 * notice is a hint, PostgreSQL is the truth).
 *
 * Subject scheme: one subject per device, `<prefix>.dev.<deviceId>`. A node
 * subscribes to the subject of every device that has a WebSocket on it (first
 * socket: subscribe; last socket gone: unsubscribe), so the NATS server routes a
 * notice only to the nodes where that device is connected: no node receives
 * every notice, and a device that is offline everywhere costs one dropped
 * publish. Publishing is O(recipients): one message per recipient device per
 * event-loop turn (notices for one device in one turn are coalesced). Device ids
 * are base64url (`[A-Za-z0-9_-]`), which are valid subject tokens; anything else
 * is hex-encoded behind a `x` so it can never contain `.`, `*` or `>`.
 *
 * Notices carry ids only, never ciphertext (NATS stays zero-knowledge): `mail`
 * lists envelope ids and makes the receiving node's connections read their
 * mailbox from the database; `ack` releases in-flight windows; `ctl` carries a
 * control frame (metadata such as KeyPackage stock); `revoked` closes the
 * device's sockets. The publishing node delivers to its own sockets directly
 * (with the envelope in hand: no read) and never receives its own notices
 * (`noEcho`).
 *
 * Failure model: a lost notice only delays delivery until the connection's next
 * mailbox poll or reconnect. While NATS is unreachable nothing is published
 * (memory stays bounded) and the node's connections poll their mailboxes every
 * second instead (`onStateChange`); the client reconnects forever and restores
 * the subscriptions, after which every connection reads its mailbox once. A node
 * that dies between a commit and its notices is noticed by its missing heartbeats
 * on `<prefix>.nodes` (3 s): the other nodes then read their connections'
 * mailboxes once (`onPeerLost`), so its last messages arrive in seconds, not at the
 * next 30 s poll.
 */
import { connect, Events, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { ParleyError, type Envelope, type SingleServerFrame } from '@parley/core';
import { DEVICE_REVOKED_CLOSE, type LocalDelivery, type MailNotifier } from './notifier.js';

export interface NatsNotifierOptions {
  /** NATS server URL(s), comma-separated (`nats://127.0.0.1:4222`). */
  readonly url: string;
  /** First subject token(s); nodes of one deployment share it (default `parley`). */
  readonly subjectPrefix: string;
  /** Shown to the NATS server as the client name. */
  readonly nodeId: string;
  readonly local: LocalDelivery;
  readonly log: Logger;
  /** Wait between reconnect attempts (default 500 ms, plus jitter). */
  readonly reconnectWaitMs?: number;
  /** Called when the link to NATS goes down (false) or comes (back) up (true). */
  readonly onStateChange?: (connected: boolean) => void;
  /**
   * Called when another node stops sending heartbeats without saying goodbye (it
   * died): notices it had not yet published after its last commits are lost, so the
   * caller rescans its connections' mailboxes instead of waiting for their polls.
   */
  readonly onPeerLost?: (nodeId: string) => void;
  /** Heartbeat period of this node on `<prefix>.nodes` (default 1 s); a peer is lost after 3 missed. */
  readonly heartbeatMs?: number;
}

/** The notice on the wire (JSON). `n` is the publishing node, for logs only. */
type Notice =
  | { readonly t: 'mail'; readonly ids: readonly string[]; readonly n?: string }
  | { readonly t: 'ack'; readonly ids: readonly string[]; readonly n?: string }
  | { readonly t: 'ctl'; readonly frame: SingleServerFrame; readonly n?: string }
  | { readonly t: 'revoked'; readonly n?: string };

const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const ID = /^[0-9]{1,20}$/;
/** Most ids in one notice (a longer list is split). */
const MAX_IDS = 1000;

/** The subject token of a device id (see the module comment). */
export function deviceToken(deviceId: string): string {
  return /^[A-Za-z0-9_-]{1,200}$/.test(deviceId) ? deviceId : `x${Buffer.from(deviceId, 'utf8').toString('hex')}`;
}

function parseNotice(data: Uint8Array): Notice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as { t?: unknown; ids?: unknown; frame?: unknown };
  const ids = (x: unknown): x is string[] => Array.isArray(x) && x.length <= MAX_IDS && x.every((i) => typeof i === 'string' && ID.test(i));
  switch (v.t) {
    case 'mail':
    case 'ack':
      return ids(v.ids) ? { t: v.t, ids: v.ids } : undefined;
    case 'ctl':
      return typeof v.frame === 'object' && v.frame !== null && typeof (v.frame as { type?: unknown }).type === 'string' ? { t: 'ctl', frame: v.frame as SingleServerFrame } : undefined;
    case 'revoked':
      return { t: 'revoked' };
    default:
      return undefined;
  }
}

export class NatsNotifier implements MailNotifier {
  readonly #o: NatsNotifierOptions;
  readonly #log: Logger;
  #nc: NatsConnection | undefined;
  #connected = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  #connecting: Promise<void> | undefined;
  /** Devices with a socket on this node → their subscription (undefined until NATS is up). */
  readonly #interest = new Map<string, Subscription | undefined>();
  /** Mail notices of this turn, per device (coalesced into one publish each). */
  #outgoing = new Map<string, string[]>();
  #flushScheduled = false;
  #published = 0;
  #received = 0;
  /** Other nodes' last heartbeat (local clock). */
  readonly #peers = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(options: NatsNotifierOptions) {
    if (!SUBJECT_PREFIX.test(options.subjectPrefix)) {
      throw new ParleyError('invalid_config', 'the NATS subject prefix must be dot-separated tokens of [A-Za-z0-9_-]', { status: 500, details: { subjectPrefix: options.subjectPrefix } });
    }
    this.#o = options;
    this.#log = options.log.child({ component: 'nats' });
  }

  /** True while the link to NATS is up (readiness). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Counters for tests and metrics. */
  get stats(): { published: number; received: number; devices: number } {
    return { published: this.#published, received: this.#received, devices: this.#interest.size };
  }

  subject(deviceId: string): string {
    return `${this.#o.subjectPrefix}.dev.${deviceToken(deviceId)}`;
  }

  /**
   * Starts connecting (and keeps trying until it succeeds); resolves when the first
   * connection is up or after `waitMs`, whichever comes first. Never rejects: a node
   * without NATS still serves (by mailbox polling) and reports not-ready.
   */
  start(waitMs = 0): Promise<void> {
    this.#connecting ??= this.#connectLoop();
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      timer.unref();
      void this.#connecting!.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #connectLoop(): Promise<void> {
    const wait = this.#o.reconnectWaitMs ?? 500;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const nc = await connect({
          servers: this.#o.url.split(',').map((s) => s.trim()).filter((s) => s.length > 0),
          name: `parley-${this.#o.nodeId}`,
          noEcho: true,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: wait,
          reconnectJitter: Math.round(wait / 2),
          pingInterval: 10_000,
          maxPingOut: 2,
          timeout: 2_000,
        });
        if (this.#closed) {
          await nc.close().catch(() => {});
          return;
        }
        this.#nc = nc;
        this.#watchStatus(nc);
        this.#startHeartbeats(nc);
        for (const deviceId of this.#interest.keys()) this.#subscribe(deviceId);
        this.#setConnected(true);
        this.#log.info({ server: nc.getServer() }, 'connected to NATS');
        return;
      } catch (error) {
        if (attempt === 0 || attempt % 20 === 0) this.#log.warn({ err: error, attempt }, 'NATS unreachable; retrying (delivery falls back to mailbox polling)');
        await new Promise<void>((resolve) => {
          this.#retry = setTimeout(resolve, wait + Math.random() * wait);
        });
        this.#retry = undefined;
      }
    }
  }

  #watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === Events.Disconnect) {
          this.#log.warn({ server: s.data }, 'NATS disconnected; delivery falls back to mailbox polling');
          this.#setConnected(false);
        } else if (s.type === Events.Reconnect) {
          this.#log.info({ server: s.data }, 'NATS reconnected');
          this.#setConnected(true);
        }
      }
    })().catch(() => {});
    void nc.closed().then((error) => {
      if (error) this.#log.warn({ err: error }, 'NATS connection closed with an error');
      this.#setConnected(false);
    });
  }

  #setConnected(connected: boolean): void {
    if (this.#closed && connected) return;
    if (this.#connected === connected) return;
    this.#connected = connected;
    this.#o.onStateChange?.(connected);
  }

  // ------------------------------------------------------------------ peers

  /**
   * Liveness of the other nodes: every node publishes `{n, t: 'alive'}` on
   * `<prefix>.nodes` each heartbeat and `{n, t: 'bye'}` when it stops gracefully
   * (after its last notices). A node silent for three heartbeats died (kill -9,
   * crash, partition): `onPeerLost`. O(nodes) tiny messages per heartbeat per node.
   */
  #startHeartbeats(nc: NatsConnection): void {
    const every = this.#o.heartbeatMs ?? 1_000;
    const subject = `${this.#o.subjectPrefix}.nodes`;
    nc.subscribe(subject, {
      callback: (error, message) => {
        if (error) return;
        let beat: { n?: unknown; t?: unknown };
        try {
          beat = JSON.parse(Buffer.from(message.data).toString('utf8')) as { n?: unknown; t?: unknown };
        } catch {
          return;
        }
        if (typeof beat.n !== 'string' || beat.n === this.#o.nodeId) return;
        if (beat.t === 'bye') this.#peers.delete(beat.n);
        else if (beat.t === 'alive') this.#peers.set(beat.n, Date.now());
      },
    });
    const beat = () => {
      if (this.#connected && !nc.isClosed()) {
        try {
          nc.publish(subject, Buffer.from(JSON.stringify({ n: this.#o.nodeId, t: 'alive' })));
        } catch {
          /* closed meanwhile */
        }
      }
      // Only judge peers while our own link is up (otherwise everyone looks silent).
      if (!this.#connected) {
        for (const id of this.#peers.keys()) this.#peers.set(id, Date.now());
        return;
      }
      const limit = Date.now() - 3 * every;
      for (const [id, seen] of this.#peers) {
        if (seen >= limit) continue;
        this.#peers.delete(id);
        this.#log.warn({ peer: id }, 'a node stopped without goodbye: rescanning mailboxes for notices it may not have sent');
        this.#o.onPeerLost?.(id);
      }
    };
    beat();
    this.#heartbeat = setInterval(beat, every);
    this.#heartbeat.unref();
  }

  /** Nodes heard from recently (tests and diagnostics). */
  get peers(): string[] {
    return [...this.#peers.keys()];
  }

  // ------------------------------------------------------------------ interest

  /** A device got its first socket on this node: receive its notices. */
  watch(deviceId: string): void {
    if (this.#closed || this.#interest.has(deviceId)) return;
    this.#interest.set(deviceId, undefined);
    if (this.#nc) this.#subscribe(deviceId);
  }

  /** The device's last socket on this node closed. */
  unwatch(deviceId: string): void {
    const sub = this.#interest.get(deviceId);
    this.#interest.delete(deviceId);
    try {
      sub?.unsubscribe();
    } catch {
      /* connection closed: nothing to undo */
    }
  }

  #subscribe(deviceId: string): void {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    const sub = nc.subscribe(this.subject(deviceId), {
      callback: (error, message) => {
        if (error) return;
        this.#received++;
        this.#onNotice(deviceId, message.data);
      },
    });
    this.#interest.set(deviceId, sub);
    // A notice published before the server registered this subscription is lost;
    // once it is registered, one mailbox read covers everything committed before.
    nc.flush().then(
      () => {
        if (this.#interest.get(deviceId) === sub) this.#o.local.wake(deviceId, []);
      },
      () => {},
    );
  }

  #onNotice(deviceId: string, data: Uint8Array): void {
    const notice = parseNotice(data);
    if (!notice) {
      this.#log.debug({ device: deviceId }, 'ignored a malformed notice');
      return;
    }
    switch (notice.t) {
      case 'mail':
        return this.#o.local.wake(deviceId, notice.ids);
      case 'ack':
        return this.#o.local.acknowledged(deviceId, notice.ids);
      case 'ctl':
        return this.#o.local.control(deviceId, notice.frame);
      case 'revoked':
        return this.#o.local.disconnect(deviceId, DEVICE_REVOKED_CLOSE, 'device revoked');
    }
  }

  // ------------------------------------------------------------------ publishing

  #publish(deviceId: string, notice: Notice): void {
    const nc = this.#nc;
    // While disconnected nothing is buffered: the receiving side polls instead.
    if (!nc || !this.#connected || nc.isClosed()) return;
    try {
      nc.publish(this.subject(deviceId), Buffer.from(JSON.stringify({ ...notice, n: this.#o.nodeId })));
      this.#published++;
    } catch (error) {
      this.#log.debug({ err: error }, 'NATS publish failed (the notice is lost; the mailbox poll covers it)');
    }
  }

  notifyEnvelope(recipients: readonly string[], envelope: Envelope): void {
    for (const deviceId of recipients) {
      this.#o.local.deliver(deviceId, [envelope]);
      this.#queueMail(deviceId, envelope.id);
    }
  }

  notifyPending(recipients: readonly string[], envelopeIds: readonly string[]): void {
    for (const deviceId of recipients) {
      this.#o.local.wake(deviceId, envelopeIds);
      for (const id of envelopeIds) this.#queueMail(deviceId, id);
    }
  }

  /** Queues a mail notice to the other nodes (sent once per turn, per device). */
  #queueMail(deviceId: string, envelopeId: string): void {
    let ids = this.#outgoing.get(deviceId);
    if (!ids) this.#outgoing.set(deviceId, (ids = []));
    ids.push(envelopeId);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const outgoing = this.#outgoing;
    this.#outgoing = new Map();
    for (const [deviceId, ids] of outgoing) {
      for (let i = 0; i < ids.length; i += MAX_IDS) this.#publish(deviceId, { t: 'mail', ids: ids.slice(i, i + MAX_IDS) });
    }
  }

  notifyControl(deviceId: string, frame: SingleServerFrame): void {
    this.#o.local.control(deviceId, frame);
    this.#flush(); // keep notices in order: mail queued this turn goes first
    this.#publish(deviceId, { t: 'ctl', frame });
  }

  notifyAcked(deviceId: string, ids: readonly string[]): void {
    this.#o.local.acknowledged(deviceId, ids);
    this.#flush();
    for (let i = 0; i < ids.length; i += MAX_IDS) this.#publish(deviceId, { t: 'ack', ids: ids.slice(i, i + MAX_IDS) });
  }

  notifyRevoked(deviceId: string): void {
    this.#o.local.disconnect(deviceId, DEVICE_REVOKED_CLOSE, 'device revoked');
    this.#flush();
    this.#publish(deviceId, { t: 'revoked' });
  }

  /** Publishes what is queued, drains the connection (bounded by `timeoutMs`) and stops reconnecting. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    const nc = this.#nc;
    if (nc && this.#connected && !nc.isClosed()) {
      try {
        nc.publish(`${this.#o.subjectPrefix}.nodes`, Buffer.from(JSON.stringify({ n: this.#o.nodeId, t: 'bye' })));
      } catch {
        /* closing anyway */
      }
    }
    this.#nc = undefined;
    this.#interest.clear();
    this.#setConnected(false);
    if (!nc || nc.isClosed()) return;
    const done = nc.drain().catch(() => nc.close());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => {});
  }
}

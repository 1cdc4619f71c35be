/**
 * One authenticated device WebSocket. Pushes envelopes as they are stored,
 * keeps a bounded window of unacknowledged ones in flight, and pages from the
 * database when the window was full, the socket was slow, the device just
 * connected, or the periodic safety-net poll comes round. Memory per
 * connection is bounded by the window.
 *
 * Outgoing frames of one event-loop turn are coalesced: deliveries merge into
 * one `deliver` frame and the rest travel in one `batch` frame, so a busy
 * connection costs one socket write per turn instead of one per message.
 */
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { Envelope, ServerFrame, SingleServerFrame } from '@parley/core';
import type { Relay } from '../relay/relay.js';
import type { LocalDelivery } from '../relay/notifier.js';
import { traceDeliver } from '../observability/span-message-path.js';

export interface ConnectionLimits {
  maxInFlight: number;
  highWaterBytes: number;
  pageSize: number;
  /** Safety-net poll of the mailbox, for notices that never came (other nodes, lost notices). */
  pollIntervalMs: number;
}

export class DeviceConnection {
  private readonly inFlight = new Set<string>();
  private needsFetch = true;
  private fetching = false;
  private closed = false;
  /** Paging cursor: the highest envelope id read from the database in this pass. */
  private cursor = '0';
  /**
   * Where the next page must start at the latest: just below envelopes known to be
   * pending but possibly not read (a notice or an overflowing push). Applied when the
   * next page starts, so a page already in flight cannot move the cursor past them.
   */
  private rewind: bigint | undefined;
  /** During a full pass from the start: the pending ids seen, to drop stale in-flight ids. */
  private rescanSeen: Set<string> | undefined;
  /** A full pass from the start is due (see restartPaging). */
  private restartRequested = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private outgoing: SingleServerFrame[] = [];
  private outgoingEnvelopes: Envelope[] = [];
  private flushScheduled = false;

  constructor(
    readonly deviceId: string,
    private readonly socket: WebSocket,
    private readonly relay: Relay,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    this.schedulePoll();
  }

  /** Changes the safety-net poll interval (shorter while cross-node notices are down) and restarts its timer. */
  setPollInterval(ms: number): void {
    if (this.limits.pollIntervalMs === ms) return;
    this.limits.pollIntervalMs = ms;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.schedulePoll();
  }

  /**
   * Mail is waiting (a notice from another node): read the mailbox, from before
   * the lowest id named (ids can commit out of order across nodes), or from the
   * cursor when none is named.
   */
  wake(envelopeIds: readonly string[]): void {
    if (this.closed) return;
    for (const id of envelopeIds) if (!this.inFlight.has(id)) this.rewindBelow(id);
    this.needsFetch = true;
    this.fetchMore();
  }

  private rewindBelow(id: string): void {
    const below = BigInt(id) - 1n;
    if (this.rewind === undefined || below < this.rewind) this.rewind = below;
  }

  /**
   * Reads the whole mailbox again from the start (notices may have been lost), after
   * a random delay below `spreadMs` so that many connections do not query at once.
   */
  rescan(spreadMs = 0): void {
    if (this.closed) return;
    if (spreadMs <= 0) return this.restartPaging();
    setTimeout(() => {
      if (!this.closed) this.restartPaging();
    }, Math.random() * spreadMs).unref();
  }

  private schedulePoll(): void {
    if (this.closed) return;
    // Jitter spreads the polls of many connections over the interval.
    const delay = this.limits.pollIntervalMs * (0.5 + Math.random());
    this.pollTimer = setTimeout(() => {
      this.restartPaging();
      this.schedulePoll();
    }, delay);
    this.pollTimer.unref();
  }

  /** Next fetch starts from the oldest pending envelope again. */
  private restartPaging(): void {
    // Applied when the next page starts: a page already in flight would otherwise move the
    // cursor past the start of the new pass, and the end of the pass would then take the
    // in-flight envelopes it skipped for acknowledged (and open the window beyond its bound).
    this.restartRequested = true;
    this.needsFetch = true;
    this.fetchMore();
  }

  /** Queues a frame for this turn's write. */
  send(frame: SingleServerFrame): void {
    if (this.closed) return;
    if (frame.type === 'deliver') this.outgoingEnvelopes.push(...frame.envelopes);
    else this.outgoing.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return;
    const frames: SingleServerFrame[] = this.outgoing;
    if (this.outgoingEnvelopes.length > 0) frames.unshift({ type: 'deliver', envelopes: this.outgoingEnvelopes });
    this.outgoing = [];
    this.outgoingEnvelopes = [];
    if (frames.length === 0) return;
    const frame: ServerFrame = frames.length === 1 ? frames[0]! : { type: 'batch', frames };
    this.socket.send(JSON.stringify(frame));
  }

  /** Live push of freshly stored envelopes. */
  push(envelopes: readonly Envelope[]): void {
    if (this.closed) return;
    const fresh = envelopes.filter((e) => !this.inFlight.has(e.id));
    if (fresh.length === 0) return;
    if (this.inFlight.size + fresh.length > this.limits.maxInFlight || this.socket.bufferedAmount > this.limits.highWaterBytes) {
      // Too much outstanding: they are durable; page them in later, from before them.
      for (const e of fresh) this.rewindBelow(e.id);
      this.needsFetch = true;
      this.waitForDrain();
      return;
    }
    for (const e of fresh) this.inFlight.add(e.id);
    // Pending now, whatever a full pass's earlier snapshot said (it may have been taken
    // before this envelope committed, out of id order, on another connection).
    if (this.rescanSeen) for (const e of fresh) this.rescanSeen.add(e.id);
    this.send({ type: 'deliver', envelopes: fresh });
    traceDeliver(this.relay.tracing, 'push', this.deviceId, fresh, new Date());
  }

  /** The device acknowledged these ids (already written). */
  acknowledged(ids: readonly string[]): void {
    for (const id of ids) this.inFlight.delete(id);
    if (this.needsFetch && this.inFlight.size <= this.limits.maxInFlight / 2) this.fetchMore();
  }

  /** Pages pending envelopes from the database into the socket. */
  fetchMore(): void {
    if (this.fetching || this.closed) return;
    this.fetching = true;
    void this.fetchLoop().catch((error: unknown) => {
      this.log.warn({ err: error, device: this.deviceId }, 'mailbox fetch failed; retrying');
      this.needsFetch = true;
      setTimeout(() => this.fetchMore(), 1000).unref();
    });
  }

  private async fetchLoop(): Promise<void> {
    try {
      await this.pageWhileNeeded();
    } finally {
      // In the same synchronous step as the loop's last check of `needsFetch`: a wake-up or
      // restart that sets it afterwards finds `fetching` false and starts a new loop (cleared
      // in a later `.finally`, such a call would find the loop still marked running, and the
      // mail would wait for the next poll).
      this.fetching = false;
    }
  }

  private async pageWhileNeeded(): Promise<void> {
    while (this.needsFetch && !this.closed) {
      if (this.inFlight.size >= this.limits.maxInFlight || this.socket.bufferedAmount > this.limits.highWaterBytes) {
        this.waitForDrain();
        return;
      }
      this.needsFetch = false;
      if (this.restartRequested) {
        this.restartRequested = false;
        this.cursor = '0';
        this.rewind = undefined;
        this.rescanSeen = new Set();
      }
      if (this.rewind !== undefined) {
        if (this.rewind < BigInt(this.cursor)) this.cursor = this.rewind.toString();
        this.rewind = undefined;
      }
      const room = Math.min(this.limits.pageSize, this.limits.maxInFlight - this.inFlight.size);
      const page = await this.relay.fetch(this.deviceId, room, this.cursor, 'ws');
      // Live pushes may have used the room while the page was read: take only what still
      // fits, and page the rest (from the last envelope taken) once the window opens.
      const fresh: Envelope[] = [];
      let taken = 0;
      for (const e of page.envelopes) {
        if (!this.inFlight.has(e.id)) {
          if (this.inFlight.size >= this.limits.maxInFlight) break;
          this.inFlight.add(e.id);
          fresh.push(e);
        }
        this.rescanSeen?.add(e.id);
        taken++;
      }
      const last = page.envelopes[taken - 1];
      if (last && BigInt(last.id) > BigInt(this.cursor)) this.cursor = last.id;
      if (fresh.length > 0) this.send({ type: 'deliver', envelopes: fresh });
      if (page.more || taken < page.envelopes.length) this.needsFetch = true;
      else if (this.rescanSeen) {
        // A full pass ended: in-flight ids no longer pending were acknowledged elsewhere.
        const upTo = BigInt(this.cursor);
        for (const id of this.inFlight) if (!this.rescanSeen.has(id) && BigInt(id) <= upTo) this.inFlight.delete(id);
        this.rescanSeen = undefined;
      }
    }
  }

  private waitForDrain(): void {
    if (this.drainTimer || this.closed) return;
    this.drainTimer = setInterval(() => {
      if (this.closed) return this.stopDrainTimer();
      if (this.socket.bufferedAmount <= this.limits.highWaterBytes / 2 && this.inFlight.size <= this.limits.maxInFlight / 2) {
        this.stopDrainTimer();
        this.fetchMore();
      }
    }, 50);
    this.drainTimer.unref();
  }

  private stopDrainTimer(): void {
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.flush();
    this.markClosed();
    this.socket.close(code, reason);
  }

  markClosed(): void {
    this.closed = true;
    this.stopDrainTimer();
    if (this.pollTimer) clearTimeout(this.pollTimer);
  }
}

/** Told when a device gets its first socket on this node and when its last one closes. */
export interface DeviceInterest {
  watch(deviceId: string): void;
  unwatch(deviceId: string): void;
}

/** This node's open device connections (the notifiers' {@link LocalDelivery}). */
export class ConnectionRegistry implements LocalDelivery {
  private readonly byDevice = new Map<string, Set<DeviceConnection>>();
  private interest: DeviceInterest | undefined;
  #pollIntervalMs: number;

  /** @param pollIntervalMs the connections' safety-net poll interval */
  constructor(pollIntervalMs = 30_000) {
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** The poll interval new connections start with. */
  get pollIntervalMs(): number {
    return this.#pollIntervalMs;
  }

  /** Sets the poll interval of every connection, present and future. */
  setPollInterval(ms: number): void {
    this.#pollIntervalMs = ms;
    for (const set of this.byDevice.values()) for (const c of set) c.setPollInterval(ms);
  }

  /** Registers who subscribes to notices for the devices connected here (the NATS notifier). */
  setInterest(interest: DeviceInterest): void {
    this.interest = interest;
    for (const deviceId of this.byDevice.keys()) interest.watch(deviceId);
  }

  /**
   * Registers a connection. Beyond `maxPerDevice` sockets of one device the oldest are
   * closed with `evict` (a device that reconnects is never locked out by its stale sockets).
   */
  add(c: DeviceConnection, maxPerDevice = Infinity, evict = { code: 4008, reason: 'too many connections for this device' }): void {
    let set = this.byDevice.get(c.deviceId);
    if (!set) {
      this.byDevice.set(c.deviceId, (set = new Set()));
      this.interest?.watch(c.deviceId);
    }
    set.add(c);
    for (const old of set) {
      if (set.size <= maxPerDevice) break;
      set.delete(old);
      old.close(evict.code, evict.reason);
    }
  }

  remove(c: DeviceConnection): void {
    const set = this.byDevice.get(c.deviceId);
    if (!set) return;
    set.delete(c);
    if (set.size === 0) {
      this.byDevice.delete(c.deviceId);
      this.interest?.unwatch(c.deviceId);
    }
  }

  wake(deviceId: string, envelopeIds: readonly string[]): void {
    const set = this.byDevice.get(deviceId);
    if (set) for (const c of set) c.wake(envelopeIds);
  }

  /** Every connection reads its whole mailbox again (cross-node notices may have been lost), spread over `spreadMs`. */
  rescanAll(spreadMs = 0): void {
    for (const set of this.byDevice.values()) for (const c of set) c.rescan(spreadMs);
  }

  deliver(deviceId: string, envelopes: readonly Envelope[]): void {
    const set = this.byDevice.get(deviceId);
    if (set) for (const c of set) c.push(envelopes);
  }

  control(deviceId: string, frame: SingleServerFrame): void {
    const set = this.byDevice.get(deviceId);
    if (set) for (const c of set) c.send(frame);
  }

  /** HTTP acks release the in-flight window of this device's sockets too. */
  acknowledged(deviceId: string, ids: readonly string[]): void {
    const set = this.byDevice.get(deviceId);
    if (set) for (const c of set) c.acknowledged(ids);
  }

  disconnect(deviceId: string, code: number, reason: string): void {
    const set = this.byDevice.get(deviceId);
    if (!set) return;
    for (const c of set) c.close(code, reason);
    this.byDevice.delete(deviceId);
    this.interest?.unwatch(deviceId);
  }

  get size(): number {
    let n = 0;
    for (const set of this.byDevice.values()) n += set.size;
    return n;
  }

  closeAll(code: number, reason: string): void {
    for (const [deviceId, set] of this.byDevice) {
      for (const c of set) c.close(code, reason);
      this.interest?.unwatch(deviceId);
    }
    this.byDevice.clear();
  }
}

/**
 * The device's WebSocket to the relay: receives envelopes as they are stored,
 * submits and acknowledges with low latency, and reconnects with jittered
 * exponential backoff. Runs on the browser WebSocket API; Node passes the `ws`
 * package's constructor (see `node.ts`).
 */
import { Compile } from '@parley/core/typebox';
import { ServerFrameSchema, type Envelope, type SingleServerFrame, type SubmitRequest, type SubmitResponse } from '@parley/core';
import { ApiError, TransportError } from './errors.js';

/**
 * The subset of the WebSocket API the SDK uses; `nodeRuntime` and `browserRuntime` adapt `ws` and the browser's
 * WebSocket to it.
 *
 * @example
 * const socket: WebSocketLike = nodeRuntime.webSocket('wss://parley.example/v1/ws')
 * socket.onclose = ({ code, reason }) => console.log('closed', code, reason)
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/**
 * Opens a WebSocket to a URL (`DeviceOptions.webSocket`); `nodeRuntime` and `browserRuntime` supply one.
 *
 * @example
 * const sockets: WebSocketLike[] = []
 * const webSocket: WebSocketFactory = (url) => { const s = nodeRuntime.webSocket(url); sockets.push(s); return s }
 * const phone = await Device.open({ store, ...nodeRuntime, webSocket })
 */
export type WebSocketFactory = (url: string) => WebSocketLike;

const OPEN = 1;
const checkFrame = Compile(ServerFrameSchema);

export interface RealtimeOptions {
  readonly serverUrl: string;
  readonly token: (refresh: boolean) => Promise<string>;
  readonly webSocket: WebSocketFactory;
  readonly onEnvelopes: (envelopes: readonly Envelope[]) => void;
  readonly onFrame?: (frame: SingleServerFrame) => void;
  readonly onStateChange?: (online: boolean) => void;
  readonly submitTimeoutMs?: number;
}

export class RealtimeChannel {
  private socket: WebSocketLike | undefined;
  private ready = false;
  private stopped = true;
  private attempt = 0;
  private refreshToken = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private nextRequest = 1;
  private readonly pending = new Map<string, { resolve: (r: SubmitResponse) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> }>();
  private readyWaiters: ((ready: boolean) => void)[] = [];

  constructor(private readonly options: RealtimeOptions) {}

  get online(): boolean {
    return this.ready;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  /** Resolves when the channel is authenticated (false after `timeoutMs`, or at once when the channel is stopped). */
  waitReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push((ready) => {
        clearTimeout(timer);
        resolve(ready);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.failPending(new TransportError('connection closed'));
    const s = this.socket;
    this.socket = undefined;
    this.setReady(false);
    this.readyWaiters.splice(0).forEach((w) => w(false));
    if (s && s.readyState <= OPEN) s.close(1000, 'client closing');
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    if (ready) this.readyWaiters.splice(0).forEach((w) => w(true));
    this.options.onStateChange?.(ready);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = await this.options.token(this.refreshToken);
      this.refreshToken = false;
    } catch {
      return this.scheduleReconnect();
    }
    if (this.stopped) return;
    const url = this.options.serverUrl.replace(/^http/, 'ws') + '/v1/ws';
    let socket: WebSocketLike;
    try {
      socket = this.options.webSocket(url);
    } catch {
      return this.scheduleReconnect();
    }
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token }));
    socket.onmessage = (event) => this.onMessage(event.data);
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.setReady(false);
      this.failPending(new TransportError('connection lost'));
      // Session expired or refused, or the device revoked (its next session request learns how, with proof).
      if (event.code === 4001 || event.code === 4002 || event.code === 4004) this.refreshToken = true;
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    const base = Math.min(10_000, 250 * 2 ** Math.min(this.attempt, 6));
    this.attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.reconnectTimer = setTimeout(() => void this.connect(), delay);
  }

  private onMessage(data: unknown): void {
    let frame: unknown;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data));
    } catch {
      return;
    }
    if (!checkFrame.Check(frame)) return; // ignore what is not the protocol
    if (frame.type === 'batch') for (const inner of frame.frames) this.onFrame(inner);
    else this.onFrame(frame);
  }

  private onFrame(frame: SingleServerFrame): void {
    switch (frame.type) {
      case 'ready':
        this.attempt = 0;
        this.setReady(true);
        break;
      case 'deliver':
        this.options.onEnvelopes(frame.envelopes);
        break;
      case 'submitted': {
        const p = this.pending.get(frame.requestId);
        if (p) {
          this.pending.delete(frame.requestId);
          clearTimeout(p.timer);
          p.resolve(frame.result);
        }
        break;
      }
      case 'error': {
        if (frame.requestId !== undefined) {
          const p = this.pending.get(frame.requestId);
          if (p) {
            this.pending.delete(frame.requestId);
            clearTimeout(p.timer);
            p.reject(new ApiError(frame.status, frame.error.code, frame.error.message, frame.error.details));
          }
        } else if (frame.error.code === 'session_expired' || frame.error.code === 'session_invalid') {
          this.refreshToken = true;
        }
        break;
      }
      default:
        break;
    }
    this.options.onFrame?.(frame);
  }

  /** Submits over the socket; throws TransportError when it is not connected. */
  submit(body: SubmitRequest): Promise<SubmitResponse> {
    const socket = this.socket;
    if (!socket || !this.ready || socket.readyState !== OPEN) return Promise.reject(new TransportError('not connected'));
    const requestId = String(this.nextRequest++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new TransportError('submit timed out'));
      }, this.options.submitTimeoutMs ?? 15_000);
      this.pending.set(requestId, { resolve, reject, timer });
      socket.send(JSON.stringify({ type: 'submit', requestId, body }));
    });
  }

  /** Sends an ack frame; false when not connected (the envelopes will come again). */
  ack(ids: readonly string[]): boolean {
    const socket = this.socket;
    if (!socket || !this.ready || socket.readyState !== OPEN || ids.length === 0) return false;
    for (let i = 0; i < ids.length; i += 1000) socket.send(JSON.stringify({ type: 'ack', ids: ids.slice(i, i + 1000) }));
    return true;
  }

  private failPending(error: unknown): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(error);
    }
    this.pending.clear();
  }
}

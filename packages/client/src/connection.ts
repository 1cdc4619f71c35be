/**
 * The device's WebSocket to the relay, opened by `Device.connect` and closed by
 * `Device.disconnect`. While it is up, deliveries arrive as they are stored and
 * submissions and acks go over it (the outbox and the receiver fall back to
 * HTTP when it is down).
 */
import type { Envelope } from '@parley/core';
import { TransportError } from './errors.js';
import { RealtimeChannel, type WebSocketFactory, type WebSocketLike } from './realtime.js';

/** @internal What the connection needs from its device. */
export interface ConnectionContext {
  readonly serverUrl: string;
  /** The app's WebSocket constructor (default: `globalThis.WebSocket`). */
  readonly webSocket: WebSocketFactory | undefined;
  token(refresh: boolean): Promise<string>;
  onEnvelopes(envelopes: readonly Envelope[]): void;
  /** The server's stock of this device's KeyPackages ran low. */
  onKeyPackagesLow(): void;
  onStateChange(online: boolean): void;
}

function defaultWebSocket(): WebSocketFactory | undefined {
  const WS = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  return WS ? (url) => new WS(url) : undefined;
}

/** @internal The device's WebSocket, when it has one; not part of the SDK's API. */
export class Connection {
  #channel: RealtimeChannel | undefined;

  constructor(private readonly ctx: ConnectionContext) {}

  /** The open channel, if any (it may be reconnecting). */
  get channel(): RealtimeChannel | undefined {
    return this.#channel;
  }

  get online(): boolean {
    return this.#channel?.online ?? false;
  }

  /** Opens the WebSocket (once); resolves true when authenticated, false after `timeoutMs`. */
  async open(timeoutMs: number): Promise<boolean> {
    const webSocket = this.ctx.webSocket ?? defaultWebSocket();
    if (!webSocket) throw new TransportError('no WebSocket implementation: pass options.webSocket');
    if (!this.#channel) {
      this.#channel = new RealtimeChannel({
        serverUrl: this.ctx.serverUrl,
        token: (refresh) => this.ctx.token(refresh),
        webSocket,
        onEnvelopes: (envelopes) => this.ctx.onEnvelopes(envelopes),
        onFrame: (frame) => {
          if (frame.type === 'key-packages-low') this.ctx.onKeyPackagesLow();
        },
        onStateChange: (online) => this.ctx.onStateChange(online),
      });
      this.#channel.start();
    }
    return this.#channel.waitReady(timeoutMs);
  }

  /** Closes the WebSocket (it can be opened again). */
  async close(): Promise<void> {
    const channel = this.#channel;
    this.#channel = undefined;
    await channel?.stop();
  }

  /** Sends acks over the WebSocket; false when it is not connected. */
  ack(ids: readonly string[]): boolean {
    return this.#channel?.ack(ids) ?? false;
  }
}

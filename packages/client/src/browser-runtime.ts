/**
 * The runtime pieces a device needs in a browser: the WebCrypto MLS provider
 * (`@parley/core/mls/web`) and the browser's own WebSocket, adapted to
 * `WebSocketLike` (binary frames arrive as `ArrayBuffer` and are handed on as
 * UTF-8 text, like the text frames the relay sends).
 */
import { webCryptoProvider } from '@parley/core/mls/web';
import { RuntimeMissingError } from './errors.js';
import type { WebSocketFactory, WebSocketLike } from './realtime.js';

const decoder = new TextDecoder();

/** A browser `WebSocket` seen through `WebSocketLike`. */
class BrowserWebSocket implements WebSocketLike {
  readonly #socket: WebSocket;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onopen = (event) => this.onopen?.(event);
    socket.onmessage = (event: MessageEvent<unknown>) => {
      const data = event.data instanceof ArrayBuffer ? decoder.decode(event.data) : event.data;
      this.onmessage?.({ data });
    };
    socket.onclose = (event) => this.onclose?.({ code: event.code, reason: event.reason });
    socket.onerror = (event) => this.onerror?.(event);
  }

  get readyState(): number {
    return this.#socket.readyState;
  }

  send(data: string): void {
    this.#socket.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }
}

const webSocket: WebSocketFactory = (url) => {
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (typeof WS !== 'function') throw new RuntimeMissingError(['WebSocket']);
  return new BrowserWebSocket(new WS(url));
};

/**
 * Spread into `Device.enroll` / `Device.open` (and `Sender`'s) options in a browser:
 * the WebCrypto MLS provider and the browser's WebSocket.
 *
 * @example
 * import { Device } from '@parley/client'
 * import { IndexedDbKeyStore, browserRuntime } from '@parley/client/browser'
 * const phone = await Device.open({ store: await IndexedDbKeyStore.open('phone'), ...browserRuntime })
 */
export const browserRuntime = { crypto: webCryptoProvider, webSocket } as const;

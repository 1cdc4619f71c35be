/**
 * Node.js entry: the encrypted file KeyStore, and the runtime pieces a device
 * needs in Node (node:crypto-backed MLS provider, the `ws` WebSocket).
 *
 * @example
 * import { Device } from '@parley/client'
 * import { FileKeyStore, nodeRuntime } from '@parley/client/node'
 * const store = await FileKeyStore.open('./phone', { passphrase })
 * const phone = await Device.open({ store, ...nodeRuntime })
 */
import WebSocket from 'ws';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { nodeStreamCrypto } from '@parley/core/media/node';
import type { WebSocketFactory, WebSocketLike } from './realtime.js';

export { FileKeyStore, DEFAULT_ARGON2_PARAMS, type Argon2Params, type FileKeyStoreOptions, type FileKeyStoreKey } from './key-store.node.js';

const webSocket: WebSocketFactory = (url) => new WebSocket(url, { maxPayload: 64 * 1024 * 1024 }) as unknown as WebSocketLike;

/**
 * Spread into `Device.enroll` / `Device.open` options in Node: the node:crypto MLS provider, node:crypto
 * for attachments (AES-256-GCM and SHA-256 through OpenSSL) and a `ws` WebSocket.
 *
 * @example
 * const phone = await Device.open({ store, ...nodeRuntime })
 */
export const nodeRuntime = { crypto: nodeCryptoProvider, mediaCrypto: nodeStreamCrypto, webSocket } as const;

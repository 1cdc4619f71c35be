/**
 * Browser entry (`@parley/client/browser`): the IndexedDB KeyStore (encrypted at
 * rest under a non-extractable WebCrypto key, one tab at a time) and the runtime
 * pieces a device needs in a browser (WebCrypto MLS provider, the browser's
 * WebSocket). No Node built-ins anywhere below this file.
 *
 * @example
 * import { Device } from '@parley/client'
 * import { IndexedDbKeyStore, browserRuntime } from '@parley/client/browser'
 * const store = await IndexedDbKeyStore.open('phone')
 * const phone = await Device.enroll({ serverUrl, enrollmentToken, store, ...browserRuntime })
 */
export { IndexedDbKeyStore, DEFAULT_ARGON2_PARAMS, type IndexedDbKeyStoreOptions, type Argon2Params } from './key-store.indexeddb.js';
export { browserRuntime } from './browser-runtime.js';

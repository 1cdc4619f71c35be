/**
 * The set-up check of `Device.enroll` / `Device.open` (and so of `Sender`): the
 * platform pieces a device needs (a WebSocket, WebCrypto for MLS, fetch) must be
 * in the options or in this environment, checked before any network call or
 * store write. Without it, a Node app that forgot `...nodeRuntime` enrolled fine
 * and failed only at `connect()`.
 */
import type { DeviceOptions } from './device-options.js';
import { RuntimeMissingError } from './errors.js';

/**
 * @internal Throws `RuntimeMissingError` (`runtime_missing`) unless every piece is
 * given or has a default here: `webSocket` (default `globalThis.WebSocket`),
 * `crypto` (default ts-mls's provider on `globalThis.crypto.subtle`) and `fetch`
 * (default `globalThis.fetch`).
 */
export function assertRuntime(options: Pick<DeviceOptions, 'webSocket' | 'crypto' | 'fetch'>): void {
  const g = globalThis as { WebSocket?: unknown; crypto?: { subtle?: unknown }; fetch?: unknown };
  const missing: string[] = [];
  if (options.webSocket === undefined && typeof g.WebSocket !== 'function') missing.push('WebSocket');
  if (options.crypto === undefined && (typeof g.crypto !== 'object' || g.crypto === null || g.crypto.subtle === undefined)) missing.push('WebCrypto');
  if (options.fetch === undefined && typeof g.fetch !== 'function') missing.push('fetch');
  if (missing.length > 0) throw new RuntimeMissingError(missing);
}

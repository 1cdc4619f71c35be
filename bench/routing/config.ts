/** Constants of the routing benchmark (bench/routing.ts): the businesses, classes and the fallback policy. */
import type { RouteStep } from '@parley/server';

/** The fallback policy's step timeouts (ms): small and known, so the rest is overhead. */
export const FALLBACK_CHAIN: readonly RouteStep[] = [
  { step: 'app', timeoutMs: 200 },
  { step: 'push', timeoutMs: 200 },
  { step: 'rcs', timeoutMs: 200 },
  { step: 'sms-token', timeoutMs: 5_000 },
];

/** The routing server's bank (its routing config holds FALLBACK_CHAIN for `otp`). */
export const BANK = 'bench-bank';
/** The hot path's bank on both servers (not in the routing config: default policies). */
export const HOT_BANK = 'bench-hot';
/** The hot path's message class (the default policy: app). */
export const HOT_CLASS = 'alert';
/** The fallback paths' message class (the bank's FALLBACK_CHAIN policy). */
export const FALLBACK_CLASS = 'otp';
/** Associated data of web-link ciphertexts (the SDK's and the retrieval page's constant). */
export const WEB_MESSAGE_AAD = 'parley/v1/web-message';
/** The channel adapters' request timeout. */
export const ADAPTER_TIMEOUT_MS = 5_000;

/**
 * jose (JWT / JWS, RFC 7519 / 7515), imported on first use: its ~50 modules are not on the
 * server's start-up path (issue 18). Every caller is already asynchronous.
 *
 * @example
 * const { jwtVerify } = await jose();
 */
import type * as Jose from 'jose';

let loading: Promise<typeof Jose> | undefined;

export function jose(): Promise<typeof Jose> {
  return (loading ??= import('jose'));
}

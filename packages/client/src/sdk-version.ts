/**
 * This SDK's version, as `packages/client/package.json` states it (a test keeps the two equal):
 * what diagnostics report, so the operator sees which releases fail to decrypt.
 *
 * @example
 * console.log(`@parley/client ${SDK_VERSION}`)
 */
export const SDK_VERSION = '0.1.0';

/**
 * Every import Parley makes from ts-mls, and the only module that imports it: the package's
 * public entry (re-exported whole) and the internal modules below. ts-mls 1.6.4 lets the
 * internals be imported through its `./*.js` subpath export, but they are not its documented
 * API and may move or change in any release. A ts-mls upgrade starts here: when this file
 * type-checks against the new version and the RFC 9420 vector tests pass, the rest of `mls/`
 * is unchanged.
 *
 * One module for a second reason (start-up, issue 18): ts-mls ships ~100 separate ES modules,
 * and the build (scripts/bundle-vendor.mjs) replaces this file's compiled output with ONE
 * bundled module of ts-mls's own code (its dependencies, @hpke/* and @noble/*, stay separate
 * packages, so there is still one copy of each). Under the `parley-source` condition this file
 * runs as written.
 *
 * Like ts-mls itself, this file is imported only by modules under `packages/core/src/mls/`
 * (an ESLint rule keeps ts-mls here), and `mls/index.ts` re-exports none of it.
 */

/** ts-mls's public entry. */
export * from 'ts-mls';

// Group state and messages (key-package.ts, group.ts, process.ts, state-codec.ts).

/** ts-mls's default client configuration; Parley overrides padding and the authentication service (group.ts). */
export { defaultClientConfig } from 'ts-mls/clientConfig.js';
/**
 * The ratchet tree on its own (the RFC 9420 §12.4.3.3 `ratchet_tree` encoding) and the rest
 * of the group state without it (ts-mls's format): state-codec.ts persists the tree once per
 * epoch and the rest per message.
 */
export { decodeGroupStateWithoutTree, encodeGroupStateWithoutTree } from 'ts-mls/clientState.js';
export { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
/** KeyPackageRef (RFC 9420 §5.2) and KeyPackage signature verification (§10.1), for key-package.ts. */
export { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
/**
 * PrivateMessage decryption (RFC 9420 §6.3). process.ts calls it directly because
 * ts-mls's public `processMessage` drops the authenticated sender of application data.
 */
export { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';

// Crypto provider building blocks (crypto-provider-common.ts, .node.ts, .web.ts).

/** The AEAD interface MLS message protection calls (RFC 9420 §6.3); the providers implement it natively. */
export type { Aead } from 'ts-mls/crypto/aead.js';
/** ts-mls's HPKE (RFC 9180) wrapper around `@hpke/core`, built the way its default provider builds it. */
export { makeGenericHpke } from 'ts-mls/crypto/implementation/hpke.js';
/** ts-mls's default components: the fallback for whatever a runtime cannot do natively. */
export { makeAead } from 'ts-mls/crypto/implementation/default/makeAead.js';
export { makeDhKem } from 'ts-mls/crypto/implementation/default/makeDhKem.js';
export { makeKdf } from 'ts-mls/crypto/implementation/default/makeKdfImpl.js';
export { makeNobleSignatureImpl } from 'ts-mls/crypto/implementation/default/makeNobleSignatureImpl.js';

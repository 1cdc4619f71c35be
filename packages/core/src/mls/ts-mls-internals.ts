/**
 * Every import Parley makes from ts-mls's internal modules: any path other than the
 * package's public entry (`'ts-mls'`). ts-mls 1.6.4 lets them be imported through its
 * `./*.js` subpath export, but they are not its documented API and may move or change in
 * any release. A ts-mls upgrade starts here: when this file type-checks against the new
 * version and the RFC 9420 vector tests pass, the rest of `mls/` only meets the public entry.
 *
 * Like ts-mls itself, this file is imported only by modules under `packages/core/src/mls/`
 * (an ESLint rule keeps ts-mls there), and `mls/index.ts` re-exports none of it.
 */

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

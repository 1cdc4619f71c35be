/**
 * `@parley/core/mls`: Parley's MLS (RFC 9420) layer on ts-mls. Nothing outside
 * `packages/core/src/mls/` imports ts-mls; it sees only what is exported here (and the
 * crypto providers, `@parley/core/mls/node` and `@parley/core/mls/web`).
 *
 * suite.ts         cipher suites and the crypto provider behind them
 * credential.ts    `<identityId>/<deviceId>` basic credentials, the authentication service
 * key-package.ts   signature keys, KeyPackages (create, inspect), the device's own leaf
 * wire-inspect.ts  the clear framing of any MLSMessage (what the delivery service reads)
 * group.ts         MlsGroup and its members, createGroup, joinFromWelcome
 * commit.ts        commits, GroupInfo, external-commit resync
 * process.ts       encrypting application data, processing incoming messages
 * state-codec.ts   persisting group state
 * external-signature-key.ts  the signature hook for a key outside the process (HSM, KMS)
 * ts-mls.ts            every import from ts-mls (public entry and internals); bundled by the build
 */
export {
  SUITES,
  DEFAULT_SUITE,
  CLASSIC_SUITE,
  XWING_SUITE,
  SUITE_CODE_POINTS,
  isPostQuantum,
  parseSuiteName,
  type SuiteName,
  type MlsSuite,
  type CryptoProvider,
  loadSuite,
} from './suite.js';
export { type MemberRef, credentialIdentity, memberFromCredentialIdentity, type AuthenticateMember } from './credential.js';
export {
  type SignatureKeyPair,
  generateSignatureKeyPair,
  type KeyPackageBundle,
  createKeyPackage,
  type KeyPackageInfo,
  inspectKeyPackage,
  keyPackageSuite,
  type KeyPackageSecret,
} from './key-package.js';
export { type WireKind, type WireInfo, inspectMessage } from './wire-inspect.js';
export { type GroupMember, MlsGroup, createGroup, joinFromWelcome, welcomeSuite } from './group.js';
export { type CommitOutput, commitChanges, exportGroupInfo, rejoinExternally } from './commit.js';
export { encryptApplication, type ProcessResult, processIncoming } from './process.js';
export { encodeGroup, decodeGroup, encodeGroupParts, decodeGroupParts } from './state-codec.js';
export { EXTERNAL_KEY_REF_LENGTH, withExternalSignatureKey } from './external-signature-key.js';

/** This device as an MLS member, as the modules that build or process MLS messages need it. */
import type { AuthenticateMember, MemberRef, MlsSuite, SignatureKeyPair } from '@parley/core/mls';

/** @internal The suite, this device's leaf identity and keys, and how it authenticates others. */
export interface MlsSelf {
  readonly suite: MlsSuite;
  readonly member: MemberRef;
  readonly signatureKeys: SignatureKeyPair;
  /** Accepts a credential only if the verified key log shows that device approved with that key. */
  readonly authenticate: AuthenticateMember;
}

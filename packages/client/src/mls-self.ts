/** This device as an MLS member, as the modules that build or process MLS messages need it. */
import type { AuthenticateMember, MemberRef, MlsSuite, SignatureKeyPair, SuiteName } from '@parley/core/mls';
import { SuiteError } from './errors.js';

/** @internal The suites, this device's leaf identity and keys, and how it authenticates others. */
export interface MlsSelf {
  /** The device's first suite (the classic one): KeyPackages and groups when no other is chosen. */
  readonly suite: MlsSuite;
  /** Every suite this device runs, loaded (docs/post-quantum.md): a group is processed with its own. */
  readonly suites: ReadonlyMap<SuiteName, MlsSuite>;
  readonly member: MemberRef;
  readonly signatureKeys: SignatureKeyPair;
  /** Accepts a credential only if the verified key log shows that device approved with that key. */
  readonly authenticate: AuthenticateMember;
}

/**
 * @internal The loaded suite `name` of this device (a group's, a Welcome's, a KeyPackage's);
 * `unsupported_suite` when the device does not run it.
 */
export function suiteOf(mls: Pick<MlsSelf, 'suites'>, name: string): MlsSuite {
  const suite = mls.suites.get(name as SuiteName);
  if (suite === undefined) throw new SuiteError('unsupported_suite', `this device does not run the cipher suite ${name}`, { suite: name });
  return suite;
}

/**
 * Credentials: an MLS basic credential (RFC 9420 §5.3) whose identity binds the Parley
 * identity and device, as UTF-8 `<identityId>/<deviceId>`; and the authentication service
 * (RFC 9420 §5.3.1) that decides whether a credential may appear in a group.
 */
import type { AuthenticationService, Credential } from './ts-mls.js';
import { fromUtf8, utf8 } from '../bytes.js';
import { DEVICE_ID_PATTERN, IDENTITY_ID_PATTERN, type DeviceId, type IdentityId } from '../ids.js';

/**
 * Who a leaf of an MLS group claims to be.
 *
 * @example
 * const me: MemberRef = { identityId: parseIdentityId('bank:alice'), deviceId };
 */
export interface MemberRef {
  readonly identityId: IdentityId;
  readonly deviceId: DeviceId;
}

const identityRe = new RegExp(IDENTITY_ID_PATTERN);
const deviceRe = new RegExp(DEVICE_ID_PATTERN);

/**
 * The credential identity bytes for `member`.
 *
 * @example
 * fromUtf8(credentialIdentity({ identityId, deviceId })) // `${identityId}/${deviceId}`
 */
export function credentialIdentity(member: MemberRef): Uint8Array {
  return utf8(`${member.identityId}/${member.deviceId}`);
}

/** @internal The basic credential of `member`. */
export function credentialOf(member: MemberRef): Credential {
  return { credentialType: 'basic', identity: credentialIdentity(member) };
}

/**
 * Parses a credential identity; `undefined` when it is not a Parley device credential.
 *
 * @example
 * memberFromCredentialIdentity(utf8('bank:alice/AAAAAAAAAAAAAAAAAAAAAA')) // { identityId: 'bank:alice', deviceId: 'AAAA…' }
 * memberFromCredentialIdentity(utf8('alice'))                               // undefined
 */
export function memberFromCredentialIdentity(identity: Uint8Array): MemberRef | undefined {
  let text: string;
  try {
    text = fromUtf8(identity);
  } catch {
    return undefined;
  }
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const identityId = text.slice(0, slash);
  const deviceId = text.slice(slash + 1);
  if (!identityRe.test(identityId) || !deviceRe.test(deviceId)) return undefined;
  return { identityId: identityId as IdentityId, deviceId: deviceId as DeviceId };
}

/** @internal The Parley member a credential names; `undefined` for any other credential. */
export function memberFromCredential(credential: Credential): MemberRef | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  return memberFromCredentialIdentity(credential.identity);
}

/**
 * Decides whether a credential may appear in a group. Parley's replacement for
 * ts-mls's default authentication service, which accepts everything: the SDK
 * answers from the key transparency log.
 *
 * @example
 * const authenticate: AuthenticateMember = async (member, key) => registry.isApproved(member, key);
 */
export type AuthenticateMember = (member: MemberRef, signaturePublicKey: Uint8Array) => Promise<boolean>;

/**
 * @internal The ts-mls authentication service for `authenticate`: a credential that is not a
 * Parley device credential, or for which `authenticate` throws, is refused.
 */
export function authServiceFor(authenticate: AuthenticateMember): AuthenticationService {
  return {
    async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
      const member = memberFromCredential(credential);
      if (member === undefined) return false;
      try {
        return await authenticate(member, signaturePublicKey);
      } catch {
        return false;
      }
    },
  };
}

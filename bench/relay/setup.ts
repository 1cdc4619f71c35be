/**
 * Relay benchmark setup, also used by the cluster benchmark: one real 2-member MLS group
 * per sender→receiver pair, created exactly like a device does, and pre-encrypted
 * application messages of a target size.
 */
import { fromBase64, randomBytes, toBase64 } from '@parley/core';
import { CLASSIC_SUITE, commitChanges, createGroup, encryptApplication, type AuthenticateMember, type MlsGroup, type SuiteName } from '@parley/core/mls';
import { api, suiteNamed, type RawDevice } from '@parley/test-kit/server';

const acceptRegistered: AuthenticateMember = async () => true;

/**
 * Creates the pair's 2-member group in `suiteName` (default classic; both devices must have
 * stated it) exactly like a device does and returns the sender's group state.
 *
 * @example
 * const group = await createPairGroup(url, devices[0], devices[1], XWING_SUITE);
 */
export async function createPairGroup(url: string, sender: RawDevice, receiver: RawDevice, suiteName: SuiteName = CLASSIC_SUITE): Promise<MlsGroup> {
  const s = await suiteNamed(suiteName);
  const group = await createGroup(s, randomBytes(32), { identityId: sender.identityId, deviceId: sender.deviceId }, sender.signature, acceptRegistered);
  const claimBody = { deviceIds: [receiver.deviceId], ...(suiteName !== CLASSIC_SUITE ? { suite: suiteName } : {}) };
  const claim = await api(url, 'POST', '/v1/key-packages/claim', claimBody, sender.token);
  if (claim.status !== 200) throw new Error(`claim: ${claim.status} ${JSON.stringify(claim.body)}`);
  const keyPackages = (claim.body as { keyPackages: { keyPackage: string }[] }).keyPackages;
  const out = await commitChanges(s, group, { add: keyPackages.map((k) => fromBase64(k.keyPackage)) });
  const res = await api(
    url,
    'POST',
    '/v1/messages',
    {
      idempotencyKey: 'create',
      conversationId: group.conversationId,
      message: toBase64(out.commit),
      members: [sender.deviceId, receiver.deviceId],
      welcome: toBase64(out.welcome!),
      groupInfo: toBase64(out.groupInfo),
    },
    sender.token,
  );
  if (res.status !== 201) throw new Error(`create group: ${res.status} ${JSON.stringify(res.body)}`);
  return out.group;
}

/**
 * Plaintext length that makes the encoded PrivateMessage `target` bytes (the framing overhead is
 * constant); `suiteName` is the group's (default classic).
 *
 * @example
 * const plaintextBytes = await plaintextLengthFor(group, 1024);
 */
export async function plaintextLengthFor(group: MlsGroup, target: number, suiteName: SuiteName = CLASSIC_SUITE): Promise<number> {
  const s = await suiteNamed(suiteName);
  const probe = 512;
  const { message } = await encryptApplication(s, group, new Uint8Array(probe));
  return Math.max(1, target - (message.length - probe));
}

/**
 * `count` application messages of `plaintextBytes` random bytes each, encrypted in order
 * (base64 MLSMessages) with their encoded sizes; `suiteName` is the group's (default classic).
 *
 * @example
 * const { messages, sizes } = await preEncrypt(group, 64, plaintextBytes);
 */
export async function preEncrypt(group: MlsGroup, count: number, plaintextBytes: number, suiteName: SuiteName = CLASSIC_SUITE): Promise<{ messages: string[]; sizes: number[] }> {
  const s = await suiteNamed(suiteName);
  const messages: string[] = [];
  const sizes: number[] = [];
  let g = group;
  for (let i = 0; i < count; i++) {
    const plaintext = randomBytes(plaintextBytes);
    const enc = await encryptApplication(s, g, plaintext);
    g = enc.group;
    messages.push(toBase64(enc.message));
    sizes.push(enc.message.length);
  }
  return { messages, sizes };
}

/**
 * One valid request per API operation (the starting point of the mutations), keyed by
 * `METHOD /openapi/path`. Builders run again for the baseline check, so single-use
 * inputs (challenges, enrollment tokens, retrieval links, codes) are fresh each time.
 * Builders also supply field values and whole-body variants that need secrets: MLS
 * garbage with matching framing, JWTs with bad claims but valid signatures, re-signed proofs.
 */
import {
  fromBase64,
  generateIdentityKeyPair,
  newDeviceId,
  randomBytes,
  registrationProofMessage,
  sessionProofMessage,
  signEd25519,
  toBase64,
  toBase64Url,
} from '@parley/core';
import { signReceipt } from '@parley/core/audit';
import { createEscrowKey, createEscrowOfficer } from '@parley/core/escrow';
import { approvalMessage, revocationMessage, rotationMessage, suitesMessage } from '@parley/core/keylog';
import { CLASSIC_SUITE, XWING_SUITE, commitChanges, createKeyPackage, generateSignatureKeyPair, loadSuite } from '@parley/core/mls';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { ADMIN_TOKEN, api, suite, type RawDevice } from '@parley/test-kit/server';
import { jws, jwtVariants, mlsGarbage, privateMessage, withGroupInfoEpoch, EPOCHS } from './fuzz-crafted.js';
import type { BadValue, Path } from './fuzz-inputs.js';
import { applicationMessage, newMessageId, signedCommitment, CAROL_PHONE, WEB_CLASS, type World } from './fuzz-world.js';
import { recoveryRequests } from './fuzz-recovery.js';

export interface ValidRequest {
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** Bearer token: a device session or the admin token. */
  readonly auth?: string;
  /** Statuses the valid request may answer (default: any 2xx). */
  readonly expect?: readonly number[];
  /** More bad values for body fields, by path text (`message`, `keyPackages[0]` …). */
  readonly extra?: Readonly<Record<string, readonly BadValue[]>>;
  /** Whole-body variants built with secrets (re-signed proofs, crafted framings). */
  readonly variants?: readonly { readonly what: string; readonly body: unknown }[];
  /** Runs after the server accepted the valid request. */
  readonly accepted?: () => Promise<void>;
  /**
   * Re-signs a mutated body (fresh single-use token, proof over the mutated fields), so that
   * each mutation reaches as deep as its one bad field lets it. `path`: the mutated field.
   */
  readonly refresh?: (body: unknown, path: Path | undefined) => unknown;
  /** Runs after the mutations, before the baseline (to adopt state a mutation may have changed). */
  readonly settle?: () => Promise<void>;
}

export type Builder = () => Promise<ValidRequest>;

let serial = 0;
const next = (prefix: string) => `${prefix}-${++serial}`;

async function keyPackage(device: Pick<RawDevice, 'identityId' | 'deviceId' | 'signature'>): Promise<Uint8Array> {
  return (await createKeyPackage(await suite(), { identityId: device.identityId, deviceId: device.deviceId }, device.signature)).keyPackage;
}

async function labelOf(world: World, identityId: string): Promise<string> {
  const res = await api(world.url, 'GET', `/v1/keys/${identityId}`, undefined, ADMIN_TOKEN);
  return toBase64Url(fromBase64(res.body.label as string));
}

/** A fresh device registration body, and the same body re-signed for another enrollment token. */
async function registration(world: World) {
  const s = await suite();
  const subject = next('fz-new');
  const deviceId = newDeviceId();
  const identityId = `${world.bank.id}:${subject}`;
  const identity = generateIdentityKeyPair();
  const signature = await generateSignatureKeyPair(s);
  const owner = { identityId: identityId as RawDevice['identityId'], deviceId, signature };
  const [kp, lastResort] = [await keyPackage(owner), await keyPackage(owner)];
  const body = (enrollmentToken: string) => ({
    enrollmentToken,
    deviceId,
    identityKey: toBase64(identity.publicKey),
    signatureKey: toBase64(signature.publicKey),
    suite: s.name,
    label: 'fuzz phone',
    keyPackages: [toBase64(kp)],
    lastResortKeyPackage: toBase64(lastResort),
    proof: toBase64(signEd25519(identity.privateKey, registrationProofMessage({ enrollmentToken, deviceId, identityKey: identity.publicKey, signatureKey: signature.publicKey }))),
  });
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: world.bank.id, sub: subject, aud: 'parley', iat: now, exp: now + 300, jti: `fuzz-jti-${serial}-0123456789`, kind: 'customer' };
  /** A mutated body with a fresh enrollment token and the proof signed over its (mutated) fields. */
  const refresh = (value: unknown, path: Path | undefined): unknown => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
    const fields = value as Record<string, unknown>;
    const field = path?.[0];
    const token = field === 'enrollmentToken' ? fields['enrollmentToken'] : jws({ alg: 'EdDSA', kid: world.bank.kid }, { ...claims, jti: next('fz-jti-0123456789') }, world.bank.privateKey);
    const out: Record<string, unknown> = { ...fields, enrollmentToken: token };
    if (field === 'proof') return out;
    try {
      const message = registrationProofMessage({
        enrollmentToken: token as string,
        deviceId: fields['deviceId'] as string,
        identityKey: fromBase64(fields['identityKey'] as string),
        signatureKey: fromBase64(fields['signatureKey'] as string),
      });
      out['proof'] = toBase64(signEd25519(identity.privateKey, message));
    } catch {
      // A field the proof covers is not even a string: the old proof stays.
    }
    return out;
  };
  return { body, claims, refresh, token: await world.bank.token(subject), realKeyPackage: kp };
}

/** A public Ed25519 JWK (a fresh key). */
function ed25519Jwk() {
  return { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(generateIdentityKeyPair().publicKey) };
}

/** A fresh business with one enrollment key `k1`, for the admin operations that change a business. */
async function adminBusiness(world: World): Promise<string> {
  const id = next('fz-adm');
  const res = await api(world.url, 'POST', '/v1/admin/businesses', { id, name: 'Fuzz Admin Co', enrollmentKeys: [{ kid: 'k1', jwk: ed25519Jwk() }] }, ADMIN_TOKEN);
  if (res.status !== 201) throw new Error(`admin business: ${res.status}`);
  return id;
}

export function validRequests(world: World): Record<string, Builder[]> {
  const { sender, alice, bob, bank } = world;
  const groupId = fromBase64(world.conversationId);

  return {
    ...recoveryRequests(world),
    'POST /v1/admin/businesses': [
      async () => ({
        auth: ADMIN_TOKEN,
        expect: [201],
        body: { id: next('fz-co'), name: 'Fuzz Co', enrollmentKeys: [{ kid: 'k1', jwk: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(generateIdentityKeyPair().publicKey) } }] },
      }),
    ],
    'GET /v1/admin/businesses': [async () => ({ auth: ADMIN_TOKEN, query: { limit: '5', after: 'a' } })],
    'GET /v1/admin/businesses/{businessId}': [async () => ({ auth: ADMIN_TOKEN, params: { businessId: bank.id } })],
    // The state-changing admin operations act on a business of their own (the world's bank keeps working).
    'POST /v1/admin/businesses/{businessId}/disable': [async () => ({ auth: ADMIN_TOKEN, params: { businessId: await adminBusiness(world) } })],
    'POST /v1/admin/businesses/{businessId}/enable': [async () => ({ auth: ADMIN_TOKEN, params: { businessId: await adminBusiness(world) } })],
    'POST /v1/admin/businesses/{businessId}/keys': [
      async () => ({ auth: ADMIN_TOKEN, expect: [201], params: { businessId: await adminBusiness(world) }, body: { kid: 'k2', jwk: ed25519Jwk() } }),
    ],
    'DELETE /v1/admin/businesses/{businessId}/keys/{kid}': [async () => ({ auth: ADMIN_TOKEN, params: { businessId: await adminBusiness(world), kid: 'k1' } })],
    'POST /v1/devices': [
      async () => {
        const r = await registration(world);
        const specific: BadValue[] = [
          { what: 'kind "admin"', value: { kind: 'admin' } },
          { what: 'phone "+1"', value: { phone: '+1' } },
          { what: 'phone with NUL', value: { phone: '+1555\u00000001' } },
          { what: 'name with NUL', value: { name: 'Fuzz\u0000Name' } },
          { what: 'name with a lone surrogate', value: { name: 'Fuzz\ud800' } },
          { what: 'name of 201 characters', value: { name: 'n'.repeat(201) } },
          { what: 'reset "yes"', value: { reset: 'yes' } },
          { what: 'issued in the future', value: { iat: r.claims.iat + 3600, exp: r.claims.iat + 3700 } },
          { what: 'lifetime of 10^12 s', value: { exp: r.claims.iat + 1e12 } },
          { what: 'subject with NUL', value: { sub: 'a\u0000b' } },
        ];
        const tokens = jwtVariants('register', { alg: 'EdDSA', kid: bank.kid }, r.claims, bank.privateKey, specific);
        return {
          expect: [201],
          body: r.body(r.token),
          refresh: r.refresh,
          variants: tokens.map((t) => ({ what: `enrollmentToken := ${t.what} (proof re-signed)`, body: r.body(t.value as string) })),
          extra: {
            'keyPackages[0]': mlsGarbage('register kp', groupId, [r.realKeyPackage]),
            lastResortKeyPackage: mlsGarbage('register last resort', groupId, [r.realKeyPackage]),
          },
        };
      },
    ],
    'POST /v1/auth/challenge': [async () => ({ body: { deviceId: alice.deviceId } })],
    'POST /v1/auth/session': [
      async () => {
        const ch = await api(world.url, 'POST', '/v1/auth/challenge', { deviceId: bob.deviceId });
        const challenge = ch.body.challenge as string;
        const signature = signEd25519(bob.identity.privateKey, sessionProofMessage({ deviceId: bob.deviceId, challenge: fromBase64(challenge) }));
        return { body: { deviceId: bob.deviceId, challenge, signature: toBase64(signature) } };
      },
    ],
    'GET /v1/identities/{identityId}/devices': [async () => ({ auth: alice.token, params: { identityId: alice.identityId } })],
    'GET /v1/devices/{deviceId}': [async () => ({ auth: alice.token, params: { deviceId: bob.deviceId } })],
    'POST /v1/key-packages': [
      async () => {
        const kp = await keyPackage(alice);
        const real = [kp];
        return {
          auth: alice.token,
          body: { keyPackages: [toBase64(kp)], lastResortKeyPackage: toBase64(await keyPackage(alice)) },
          extra: { 'keyPackages[0]': mlsGarbage('upload kp', groupId, real), lastResortKeyPackage: mlsGarbage('upload last resort', groupId, real) },
        };
      },
    ],
    'GET /v1/key-packages/stock': [async () => ({ auth: alice.token })],
    // A fresh device each time: a device may send 10 reports an hour.
    'POST /v1/diagnostics': [
      async () => ({
        auth: (await world.newDevice('diagnostics')).token,
        expect: [202],
        body: { sdkVersion: '0.1.0', platform: 'node', decryptFailures: [{ reason: 'missed-epoch', count: 2 }], verification: { state: 'verified', method: 'qr' } },
      }),
    ],
    // Each build: a new identity (its own creation rate limit), a small blob.
    'POST /v1/blobs': [async () => ({ auth: (await world.newDevice('blob-uploader')).token, expect: [201], body: { size: 1000 } })],
    'POST /v1/key-packages/claim': [async () => ({ auth: sender.token, body: { deviceIds: [bob.deviceId] } })],
    'POST /v1/messages': [
      // An audited application message.
      async () => {
        const message = await applicationMessage(world);
        const commitment = signedCommitment(sender, world.conversationId, alice.identityId, 'fz-msg', newMessageId());
        return {
          auth: sender.token,
          expect: [201],
          body: { conversationId: world.conversationId, message, commitment, idempotencyKey: next('fz-app') },
          extra: { message: mlsGarbage('app message', groupId, [fromBase64(message)]) },
        };
      },
      // A commit (update), with its members and GroupInfo.
      async () => {
        const s = await suite();
        const out = await commitChanges(s, world.group, {});
        const base = { conversationId: world.conversationId, message: toBase64(out.commit), members: [sender.deviceId, alice.deviceId, bob.deviceId], groupInfo: toBase64(out.groupInfo) };
        const crafted = EPOCHS.slice(0, -1).map((epoch) => ({
          what: `crafted commit at epoch ${epoch} with a GroupInfo for epoch ${epoch + 1n}`,
          body: { ...base, message: toBase64(privateMessage(groupId, epoch, 3)), groupInfo: toBase64(withGroupInfoEpoch(out.groupInfo, epoch + 1n)), idempotencyKey: next('fz-crafted') },
        }));
        const fresh = randomBytes(32);
        crafted.push({
          what: 'crafted commit creating a new conversation',
          body: { ...base, conversationId: toBase64Url(fresh), message: toBase64(privateMessage(fresh, 0n, 3)), groupInfo: toBase64(withGroupInfoEpoch(out.groupInfo, 1n)), idempotencyKey: next('fz-new-group') },
        });
        const real = [out.commit, out.groupInfo];
        return {
          auth: sender.token,
          expect: [201],
          body: { ...base, idempotencyKey: next('fz-commit') },
          variants: crafted,
          extra: { message: mlsGarbage('commit', groupId, real), groupInfo: mlsGarbage('group info', groupId, real), welcome: mlsGarbage('welcome', groupId, real) },
          accepted: async () => {
            world.group = out.group;
          },
          // A mutation that is still a valid commit (another idempotency key) moved the epoch: follow it.
          settle: async () => {
            const info = await api(world.url, 'GET', `/v1/conversations/${world.conversationId}/group-info`, undefined, alice.token);
            if (info.status === 200 && BigInt(info.body.epoch as string) === out.epoch + 1n) world.group = out.group;
          },
        };
      },
    ],
    'GET /v1/mailbox': [async () => ({ auth: alice.token, query: { limit: '10', after: '0' } })],
    'POST /v1/mailbox/ack': [
      async () => {
        const box = await api(world.url, 'GET', '/v1/mailbox?limit=1', undefined, bob.token);
        const id = (box.body.envelopes as { id: string }[])[0]?.id ?? '1';
        return { auth: bob.token, body: { ids: [id] } };
      },
    ],
    'GET /v1/conversations/{conversationId}/group-info': [async () => ({ auth: alice.token, params: { conversationId: world.conversationId } })],
    'GET /v1/logs': [async () => ({})],
    'GET /v1/logs/{name}/consistency': [async () => ({ params: { name: 'keys' }, query: { from: '1', to: '2' } })],
    'GET /v1/logs/{name}/inclusion': [async () => ({ params: { name: 'audit' }, query: { index: '0', size: '1' } })],
    'GET /v1/keys': [async () => ({})],
    'GET /v1/keys/{identityId}': [async () => ({ auth: sender.token, params: { identityId: alice.identityId } })],
    // Single-use operations get a fresh target each time: a mutation that is still valid
    // (a signature without its last padding character decodes the same) may use up the first.
    'POST /v1/devices/{deviceId}/approve': [
      async () => {
        const aliceTablet = await world.pendingAliceDevice();
        const label = await labelOf(world, aliceTablet.identityId);
        const message = approvalMessage({
          label,
          deviceId: aliceTablet.deviceId,
          identityKey: toBase64Url(aliceTablet.identity.publicKey),
          signatureKey: toBase64Url(aliceTablet.signature.publicKey),
        });
        return { auth: alice.token, params: { deviceId: aliceTablet.deviceId }, body: { signature: toBase64(signEd25519(alice.identity.privateKey, message)) } };
      },
    ],
    'POST /v1/devices/me/suites': [
      // A fresh classic device states X-Wing too (an app update), with X-Wing KeyPackages.
      async () => {
        const device = await world.newDevice('pq-update');
        const xwing = await loadSuite(XWING_SUITE, nodeCryptoProvider);
        const kp = async () => toBase64((await createKeyPackage(xwing, { identityId: device.identityId, deviceId: device.deviceId }, device.signature)).keyPackage);
        const suites = [CLASSIC_SUITE, XWING_SUITE];
        const message = suitesMessage({ deviceId: device.deviceId, identityKey: toBase64Url(device.identity.publicKey), seq: 1, suites });
        return {
          auth: device.token,
          body: { suites, seq: 1, signature: toBase64(signEd25519(device.identity.privateKey, message)), keyPackages: [await kp()], lastResortKeyPackages: [await kp()] },
        };
      },
    ],
    'POST /v1/devices/{deviceId}/rotate-keys': [
      // A fresh device replaces its own keys: signed by its identity key and by the new one.
      async () => {
        const device = await world.newDevice('rotator');
        const label = await labelOf(world, device.identityId);
        const identity = generateIdentityKeyPair();
        const signature = await generateSignatureKeyPair(await suite());
        const next = { identityId: device.identityId, deviceId: device.deviceId, signature };
        const message = rotationMessage({
          label,
          deviceId: device.deviceId,
          previousIdentityKey: toBase64Url(device.identity.publicKey),
          identityKey: toBase64Url(identity.publicKey),
          signatureKey: toBase64Url(signature.publicKey),
        });
        return {
          auth: device.token,
          params: { deviceId: device.deviceId },
          body: {
            identityKey: toBase64(identity.publicKey),
            signatureKey: toBase64(signature.publicKey),
            signature: toBase64(signEd25519(device.identity.privateKey, message)),
            proof: toBase64(signEd25519(identity.privateKey, message)),
            keyPackages: [toBase64(await keyPackage(next))],
            lastResortKeyPackage: toBase64(await keyPackage(next)),
          },
        };
      },
    ],
    'POST /v1/devices/{deviceId}/revoke': [
      // By the device itself (owner signature).
      async () => {
        const victim = await world.newDevice('victim');
        const label = await labelOf(world, victim.identityId);
        const signature = signEd25519(victim.identity.privateKey, revocationMessage({ label, deviceId: victim.deviceId, byDevice: victim.deviceId }));
        return {
          auth: victim.token,
          params: { deviceId: victim.deviceId },
          body: { signature: toBase64(signature) },
          accepted: async () => {
            world.revokedToken = victim.token;
          },
        };
      },
      // By the business (a JWT signed with its enrollment key).
      async () => {
        const victim = await world.newDevice('victim');
        const now = Math.floor(Date.now() / 1000);
        const claims = { iss: bank.id, sub: victim.deviceId, aud: 'parley', iat: now, exp: now + 300, jti: next('fz-revoke-jti-0123456789'), purpose: 'revoke-device' };
        const tokens = jwtVariants('revoke', { alg: 'EdDSA', kid: bank.kid }, claims, bank.privateKey, [{ what: 'purpose "approve"', value: { purpose: 'approve' } }]);
        return {
          params: { deviceId: victim.deviceId },
          body: { businessToken: await bank.token(victim.deviceId, { purpose: 'revoke-device' }) },
          extra: { businessToken: tokens },
        };
      },
    ],
    'POST /v1/receipts': [
      async () => {
        const receipt = {
          v: 1 as const,
          messageId: world.messageId,
          commitmentHash: world.commitmentHash,
          identityId: alice.identityId,
          deviceId: alice.deviceId,
          status: 'delivered' as const,
          time: new Date().toISOString(),
        };
        return { auth: alice.token, body: { receipt, signature: toBase64(signReceipt(alice.identity.privateKey, receipt)) } };
      },
    ],
    'GET /v1/audit/messages/{messageId}/evidence': [async () => ({ auth: sender.token, params: { messageId: world.messageId } })],
    'PUT /v1/devices/me/push': [async () => ({ auth: bob.token, body: { provider: 'fcm', token: 'fuzz-push-token-0001' } })],
    'DELETE /v1/devices/me/push': [async () => ({ auth: bob.token })],
    'POST /v1/retrieve': [async () => ({ auth: alice.token, body: { token: await world.appLink() } })],
    'POST /v1/web-messages': [
      async () => ({
        auth: sender.token,
        body: { messageId: newMessageId(), customerId: next('carol'), phone: CAROL_PHONE, class: WEB_CLASS, ciphertext: toBase64(randomBytes(60)) },
      }),
    ],
    'POST /v1/web-messages/{messageId}/handoff': [
      async () => ({ auth: sender.token, params: { messageId: (await world.webMessage()).messageId }, body: { ok: true, provider: 'twilio', providerMessageId: 'SM0123456789abcdef' } }),
      async () => ({ auth: sender.token, params: { messageId: (await world.webMessage()).messageId }, body: { ok: false, reason: 'not_capable' } }),
    ],
    'POST /v1/consents': [async () => ({ auth: sender.token, body: { customerId: 'carol' } })],
    // Escrow: the world's bank has no class under escrow, so requests for its messages are refused
    // (`escrow_not_escrowed`) and unknown requests are 404s; registration takes a fresh key each time.
    'POST /v1/admin/businesses/{businessId}/escrow-keys': [
      async () => {
        const officers = await Promise.all(['a', 'b'].map(async (n) => (await createEscrowOfficer(n)).officer));
        return { auth: ADMIN_TOKEN, expect: [201], params: { businessId: bank.id }, body: await createEscrowKey({ businessId: bank.id, officers, threshold: 2 }) };
      },
    ],
    'GET /v1/escrow/policy': [async () => ({ auth: sender.token })],
    'POST /v1/escrow/requests': [
      async () => ({ auth: ADMIN_TOKEN, expect: [409], body: { messageId: world.messageId, reason: 'fuzz', requesterKey: toBase64Url(randomBytes(32)) } }),
    ],
    'GET /v1/escrow/requests': [async () => ({ auth: ADMIN_TOKEN, query: { messageId: world.messageId } })],
    'GET /v1/escrow/requests/{requestId}': [async () => ({ auth: ADMIN_TOKEN, expect: [404], params: { requestId: `esr_${toBase64Url(randomBytes(16))}` } })],
    'POST /v1/escrow/requests/{requestId}/approvals': [
      async () => {
        const requestId = `esr_${toBase64Url(randomBytes(16))}`;
        const approval = {
          v: 1,
          requestId,
          requestHash: toBase64Url(randomBytes(32)),
          messageId: world.messageId,
          keyId: `esk_${toBase64Url(randomBytes(32))}`,
          officerId: `off_${toBase64Url(randomBytes(16))}`,
          approvedAt: new Date().toISOString(),
        };
        return { auth: ADMIN_TOKEN, expect: [404], params: { requestId }, body: { approval, signature: toBase64(randomBytes(64)), released: toBase64(randomBytes(81)) } };
      },
    ],
    'POST /v1/escrow/requests/{requestId}/open': [async () => ({ auth: ADMIN_TOKEN, expect: [404], params: { requestId: `esr_${toBase64Url(randomBytes(16))}` } })],
    'GET /v1/routes/{messageId}': [async () => ({ auth: sender.token, params: { messageId: world.messageId } })],
    'POST /v1/routes/status': [async () => ({ auth: sender.token, body: { messageIds: [world.messageId, newMessageId()] } })],
    'POST /v1/web/describe': [async () => ({ body: { token: world.webToken } })],
    'POST /v1/web/challenge': [async () => ({ body: { token: world.webToken } })],
    'POST /v1/web/open': [
      // A fresh link each time: a mutation that is still valid (consent := true) opens its link.
      async () => {
        const token = await world.webLink();
        const before = world.codes.length;
        const ch = await api(world.url, 'POST', '/v1/web/challenge', { token });
        if (ch.status !== 200 || world.codes.length <= before) throw new Error(`web challenge: ${ch.status} ${JSON.stringify(ch.body)}`);
        return { body: { token, code: world.codes[world.codes.length - 1]!, consent: true } };
      },
    ],
  };
}

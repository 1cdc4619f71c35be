/** Businesses, device registration, sessions and the device directory. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import {
  BusinessSchema,
  ChallengeRequestSchema,
  ChallengeResponseSchema,
  ConflictError,
  CreateBusinessRequestSchema,
  DeviceIdSchema,
  DeviceRecordSchema,
  ErrorBodySchema,
  IdentityDevicesResponseSchema,
  IdentityIdSchema,
  InvalidInputError,
  NotFoundError,
  RegisterDeviceRequestSchema,
  RegisterDeviceResponseSchema,
  SessionRequestSchema,
  SessionResponseSchema,
  UnauthorizedError,
  businessOf,
  fromBase64,
  randomBytes,
  registrationProofMessage,
  sessionProofMessage,
  toBase64,
  toBase64Url,
  verifyEd25519,
  type IdentityId,
} from '@parley/core';
import { suitesMessage } from '@parley/core/keylog';
import { parseSuiteName } from '@parley/core/mls';
import { insertBusiness } from '../../repos/businesses.js';
import { publicJwk } from '../../repos/business-admin.js';
import { upsertIdentity, getIdentity } from '../../repos/identities.js';
import { getDevice, insertDevice, listDevicesOfIdentity, setDeviceStatus, toDeviceRecord } from '../../repos/devices.js';
import { markEnrollmentTokenUsed } from '../../repos/enrollment-tokens.js';
import { consumeChallenge, insertChallenge } from '../../repos/challenges.js';
import { insertKeyPackages, keyPackageStock } from '../../repos/key-packages.js';
import { verifyEnrollmentToken } from '../enrollment.js';
import { deviceOf, requireAdmin, requireDevice, type RouteContext } from '../context.js';
import { requireLastResortPerSuite, validateKeyPackages, stockResponse } from './key-packages.js';
import { canSeeIdentity } from '../../directory/visibility.js';
import { nodePublicKeyOf } from '../../tlog/node-signer.js';

/**
 * The suites a registration states: `suites` (which must hold `suite` and come with its proof)
 * or `[suite]`; each one Parley offers, else `unsupported_suite`.
 */
function registeredSuites(body: { suite: string; suites?: string[] | undefined; suitesProof?: string | undefined }): string[] {
  const suites = body.suites ?? [body.suite];
  if (suites.some((name) => parseSuiteName(name) === undefined)) throw new InvalidInputError('unsupported cipher suite', { code: 'unsupported_suite' });
  if (!suites.includes(body.suite)) throw new InvalidInputError('suites must include suite', { code: 'unsupported_suite' });
  if ((body.suites === undefined) !== (body.suitesProof === undefined)) throw new InvalidInputError('suites and suitesProof go together', { code: 'invalid_request' });
  return suites;
}

/** Stands in for the identity key of a device that does not exist (see /v1/auth/session). */
const UNKNOWN_DEVICE_KEY = nodePublicKeyOf(randomBytes(32));

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema };

export function registerRegistryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/admin/businesses',
    {
      schema: { tags: ['admin'], operationId: 'createBusiness', summary: 'Register a business and its enrollment keys', body: CreateBusinessRequestSchema, response: { 201: BusinessSchema, ...errors } },
      onRequest: requireAdmin(ctx),
    },
    async (request, reply) => {
      const body = request.body;
      await insertBusiness(ctx.db, { id: body.id, name: body.name, keys: body.enrollmentKeys.map((k) => ({ kid: k.kid, jwk: publicJwk(k.jwk) })) });
      ctx.log.info({ business: body.id }, 'business registered');
      return reply.status(201).send({ id: body.id, name: body.name });
    },
  );

  r.post(
    '/v1/devices',
    {
      schema: {
        tags: ['registry'],
        operationId: 'registerDevice',
        summary: 'Register a device with an enrollment token',
        body: RegisterDeviceRequestSchema,
        response: { 201: RegisterDeviceResponseSchema, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const claims = await verifyEnrollmentToken(ctx.db, body.enrollmentToken, ctx.config.auth.maxEnrollmentTokenLifetimeSeconds);
      const suites = registeredSuites(body);
      const identityKey = fromBase64(body.identityKey, 'identityKey');
      const signatureKey = fromBase64(body.signatureKey, 'signatureKey');
      const proof = fromBase64(body.proof, 'proof');
      if (identityKey.length !== 32) throw new InvalidInputError('identityKey must be a 32-byte Ed25519 key', { code: 'invalid_key' });
      const message = registrationProofMessage({ enrollmentToken: body.enrollmentToken, deviceId: body.deviceId, identityKey, signatureKey });
      if (!verifyEd25519(identityKey, message, proof)) {
        throw new UnauthorizedError('registration_proof_invalid', 'the registration proof does not verify with the identity key');
      }
      if (body.suitesProof !== undefined) {
        const stated = suitesMessage({ deviceId: body.deviceId, identityKey: toBase64Url(identityKey), seq: 0, suites });
        if (!verifyEd25519(identityKey, stated, fromBase64(body.suitesProof, 'suitesProof'))) {
          throw new UnauthorizedError('registration_proof_invalid', 'the suites proof does not verify with the identity key');
        }
      }
      const owner = { identityId: claims.identityId, deviceId: body.deviceId, signatureKey, suites };
      const oneTime = await validateKeyPackages(ctx, body.keyPackages, owner);
      const lastResort = await validateKeyPackages(ctx, [body.lastResortKeyPackage, ...(body.lastResortKeyPackages ?? [])], owner);
      requireLastResortPerSuite(lastResort, suites);

      const { status, pendingId, revokedIds } = await ctx.db.transaction(async (tx) => {
        if (!(await markEnrollmentTokenUsed(tx, claims.businessId, claims.jti, claims.expiresAt))) {
          throw new ConflictError('enrollment_token_reused', 'this enrollment token was used before');
        }
        await upsertIdentity(tx, {
          id: claims.identityId,
          businessId: claims.businessId,
          kind: claims.kind,
          ...(claims.name ? { displayName: claims.name } : {}),
          ...(claims.phone ? { phone: claims.phone } : {}),
        });
        const existing = (await listDevicesOfIdentity(tx, claims.identityId)).filter((d) => d.status !== 'revoked');
        if (claims.reset) {
          // Lost every device: the business re-enrolls the identity; its old keys are revoked in the log.
          for (const d of existing) {
            await setDeviceStatus(tx, d.id, 'revoked');
            await ctx.directory.deviceRevoked(tx, { identityId: claims.identityId, deviceId: d.id, by: 'reset' });
          }
        }
        // The enrollment token approves the first device of a customer (or a reset), and every
        // device of the business's own identities (senders, agents, bots: the business owns
        // them). A customer's further devices wait for one of the customer's approved devices.
        const waits = claims.kind === 'customer' && !claims.reset && existing.some((d) => d.status === 'active');
        const status = waits ? ('pending' as const) : ('active' as const);
        await insertDevice(tx, {
          id: body.deviceId,
          identityId: claims.identityId,
          identityKey,
          signatureKey,
          suite: body.suite,
          ...(body.suites ? { suites } : {}),
          status,
          ...(body.label ? { label: body.label } : {}),
        });
        await insertKeyPackages(tx, body.deviceId, oneTime, lastResort);
        const pendingId = await ctx.directory.deviceAdded(tx, {
          identityId: claims.identityId,
          deviceId: body.deviceId,
          kind: claims.kind,
          identityKey,
          signatureKey,
          suite: body.suite,
          ...(body.suitesProof ? { suites: { names: suites, proof: fromBase64(body.suitesProof, 'suitesProof') } } : {}),
          approval: status === 'active' ? 'enrollment' : 'pending',
        });
        return { status, pendingId, revokedIds: claims.reset ? existing.map((d) => d.id) : [] };
      });
      ctx.directory.keyLog.kick?.();
      const { index } = await ctx.directory.keyLog.waitSequenced(pendingId);
      // A reset's revocations are sequenced before the new device's entry: the old devices'
      // sockets close now, and at their next session they get the notice (revocation.ts).
      for (const id of revokedIds) {
        ctx.deviceStatus.forget(id);
        ctx.notifier.notifyRevoked(id);
      }
      ctx.log.info({ device: body.deviceId, identity: claims.identityId, status, keyLogIndex: index }, 'device registered');
      const stock = await keyPackageStock(ctx.db, body.deviceId, body.suite);
      return reply.status(201).send({
        deviceId: body.deviceId,
        identityId: claims.identityId,
        kind: claims.kind,
        stock: stockResponse(ctx, stock),
        status,
        keyLog: { index },
      });
    },
  );

  r.post(
    '/v1/auth/challenge',
    { schema: { tags: ['auth'], operationId: 'createChallenge', summary: 'Get a one-time challenge to sign', body: ChallengeRequestSchema, response: { 200: ChallengeResponseSchema, ...errors } } },
    async (request) => {
      // The same answer for every device id, known or not, revoked or not: nothing to learn
      // by probing. Only the holder of the device's identity key learns more, at /v1/auth/session.
      // (A pending device may sign in: it has to, to show its approval code and learn it was approved.)
      const challenge = randomBytes(32);
      const expiresAt = new Date(Date.now() + ctx.config.auth.challengeTtlSeconds * 1000);
      await insertChallenge(ctx.db, challenge, request.body.deviceId, expiresAt);
      return { challenge: toBase64(challenge), expiresAt: expiresAt.toISOString() };
    },
  );

  r.post(
    '/v1/auth/session',
    { schema: { tags: ['auth'], operationId: 'createSession', summary: 'Exchange a signed challenge for a session token', body: SessionRequestSchema, response: { 200: SessionResponseSchema, ...errors } } },
    async (request) => {
      const { deviceId } = request.body;
      const challenge = fromBase64(request.body.challenge, 'challenge');
      const signature = fromBase64(request.body.signature, 'signature');
      const device = await getDevice(ctx.db, deviceId);
      // One answer for an unknown device, a wrong signature and a bad challenge. (An unknown
      // device's check runs against a throwaway key, so it takes as long as a real one.)
      const invalid = () => new UnauthorizedError('challenge_invalid', 'unknown device, challenge or signature');
      const identityKey = device ? new Uint8Array(device.identity_key) : UNKNOWN_DEVICE_KEY;
      if (!verifyEd25519(identityKey, sessionProofMessage({ deviceId, challenge }), signature) || !device) throw invalid();
      // Consumed only after the signature checks out, and exactly once.
      if (!(await consumeChallenge(ctx.db, challenge, deviceId))) throw invalid();
      // Proven to hold the device's key: it may learn that it was revoked, with the proof. The
      // notice is its identity's key-log lookup (entries, inclusion proofs, signed checkpoint):
      // the SDK wipes the device only once the verified log shows the revocation (revocation.ts).
      if (device.status === 'revoked') {
        const notice = await ctx.directory.lookup(device.identity_id);
        throw new UnauthorizedError('device_revoked', 'this device was revoked', { details: { notice } });
      }
      const auth = { deviceId, identityId: device.identity_id, businessId: businessOf(device.identity_id as IdentityId) };
      // A disabled business's devices get no new session (403 business_disabled). Sessions issued
      // before stay valid until they expire (at most auth.sessionTtlSeconds, 15 min), so they are
      // cut at their next refresh; message submissions check the business on every call (relay.ts).
      await ctx.businessStatus.assertActive(auth.businessId);
      const session = await ctx.sessions.issue(auth);
      return { token: session.token, expiresAt: session.expiresAt.toISOString(), deviceId, identityId: device.identity_id };
    },
  );

  r.get(
    '/v1/identities/:identityId/devices',
    {
      schema: {
        tags: ['directory'],
        operationId: 'listIdentityDevices',
        summary: "List an identity's devices (public keys)",
        params: Type.Object({ identityId: IdentityIdSchema }),
        response: { 200: IdentityDevicesResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const identityId = request.params.identityId as IdentityId;
      const identity = await getIdentity(ctx.db, identityId);
      // Tenants are isolated, and a customer sees only whom it has a reason to see: the same answer otherwise.
      if (!identity || !(await canSeeIdentity(ctx.db, me, identityId))) throw new NotFoundError('unknown_identity', 'no such identity');
      const devices = await listDevicesOfIdentity(ctx.db, identityId);
      return {
        identityId,
        kind: identity.kind,
        ...(identity.display_name ? { displayName: identity.display_name } : {}),
        devices: devices.map(toDeviceRecord),
      };
    },
  );

  r.get(
    '/v1/devices/:deviceId',
    {
      schema: {
        tags: ['directory'],
        operationId: 'getDevice',
        summary: "One device's public keys and status",
        params: Type.Object({ deviceId: DeviceIdSchema }),
        response: { 200: DeviceRecordSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const device = await getDevice(ctx.db, request.params.deviceId);
      if (!device || !(await canSeeIdentity(ctx.db, me, device.identity_id))) throw new NotFoundError('unknown_device', 'no such device');
      return toDeviceRecord(device);
    },
  );
}

/**
 * The verifiable key directory: lookups with proofs, device approval by another
 * device of the same identity, and revocation (by the owner's device or by the
 * business). Every change is a key-log entry committed with the change itself.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import {
  ApproveDeviceRequestSchema,
  ConflictError,
  DeviceIdSchema,
  ErrorBodySchema,
  ForbiddenError,
  IdentityIdSchema,
  KeyDirectoryInfoSchema,
  KeyLogChangeResponseSchema,
  KeyLookupResponseSchema,
  NotFoundError,
  RevokeDeviceRequestSchema,
  UnauthorizedError,
  businessOf,
  fromBase64,
  toBase64,
  toBase64Url,
  verifyEd25519,
  type IdentityId,
} from '@parley/core';
import { approvalMessage, revocationMessage } from '@parley/core/keylog';
import { getDevice, setDeviceStatus, type DeviceRow } from '../../repos/devices.js';
import { getIdentity } from '../../repos/identities.js';
import { verifyBusinessToken } from '../business-tokens.js';
import { deviceOf, hasAdminToken, requireAdminOrDevice, requireDevice, type RouteContext } from '../context.js';
import { canSeeIdentity } from '../../directory/visibility.js';
import { revokeDevice } from '../../directory/revoke-device.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema };

export function registerDirectoryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/keys',
    { schema: { tags: ['key transparency'], operationId: 'getKeyDirectoryInfo', summary: "The key directory's log and VRF keys", response: { 200: KeyDirectoryInfoSchema } } },
    async () => ({
      log: ctx.directory.keyLog.name,
      origin: ctx.directory.keyLog.origin,
      verifierKey: ctx.directory.keyLog.verifierKey,
      vrfPublicKey: toBase64(ctx.directory.vrfPublicKey),
    }),
  );

  r.get(
    '/v1/keys/:identityId',
    {
      schema: {
        tags: ['key transparency'],
        operationId: 'lookupKeys',
        summary: "An identity's key-log entries with inclusion proofs and its VRF label proof",
        params: Type.Object({ identityId: IdentityIdSchema }),
        response: { 200: KeyLookupResponseSchema, ...errors },
      },
      // A device of the same business, or the operator (audits, `parley keys lookup`).
      onRequest: requireAdminOrDevice(ctx),
    },
    async (request) => {
      const identity = await getIdentity(ctx.db, request.params.identityId);
      // The same answer for an identity that does not exist and one this device may not see.
      if (!identity || (!hasAdminToken(ctx, request) && !(await canSeeIdentity(ctx.db, deviceOf(request), identity.id)))) {
        throw new NotFoundError('unknown_identity', 'no such identity');
      }
      return ctx.directory.lookup(identity.id);
    },
  );

  r.post(
    '/v1/devices/:deviceId/approve',
    {
      schema: {
        tags: ['key transparency'],
        operationId: 'approveDevice',
        summary: 'Approve a pending device of your own identity (signed by your identity key)',
        params: Type.Object({ deviceId: DeviceIdSchema }),
        body: ApproveDeviceRequestSchema,
        response: { 200: KeyLogChangeResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const approver = await activeDevice(ctx, me.deviceId);
      const target = await getDevice(ctx.db, request.params.deviceId);
      if (!target || target.identity_id !== approver.identity_id) throw new NotFoundError('unknown_device', 'no such device of your identity');
      if (target.status !== 'pending') throw new ConflictError('not_pending', 'the device is not waiting for approval');
      const { label } = await ctx.directory.labelOf(ctx.db, target.identity_id);
      const message = approvalMessage({
        label: toBase64Url(label),
        deviceId: target.id,
        identityKey: toBase64Url(target.identity_key),
        signatureKey: toBase64Url(target.signature_key),
      });
      const signature = fromBase64(request.body.signature, 'signature');
      if (!verifyEd25519(new Uint8Array(approver.identity_key), message, signature)) {
        throw new UnauthorizedError('approval_signature_invalid', 'the approval signature does not verify');
      }
      const pendingId = await ctx.db.transaction(async (tx) => {
        await setDeviceStatus(tx, target.id, 'active');
        return ctx.directory.deviceApproved(tx, { identityId: target.identity_id, deviceId: target.id, approvedBy: approver.id, signature });
      });
      ctx.directory.keyLog.kick?.();
      const { index } = await ctx.directory.keyLog.waitSequenced(pendingId);
      ctx.log.info({ device: target.id, by: approver.id, keyLogIndex: index }, 'device approved');
      return { deviceId: target.id, index, status: 'active' };
    },
  );

  r.post(
    '/v1/devices/:deviceId/revoke',
    {
      schema: {
        tags: ['key transparency'],
        operationId: 'revokeDevice',
        // No hook: a device session (with `signature`) or the business token in the body, checked by the handler.
        security: [{ deviceSession: [] }, {}],
        summary: "Revoke a device: signed by another (or the same) device of its identity, or by the business's key",
        params: Type.Object({ deviceId: DeviceIdSchema }),
        body: RevokeDeviceRequestSchema,
        response: { 200: KeyLogChangeResponseSchema, ...errors },
      },
    },
    async (request) => {
      // Who asks comes first: an unauthenticated caller learns nothing about the device
      // (unknown, revoked and another business's devices all answer 401 to it).
      let change: { by: 'owner' | 'business'; byDevice?: string; signature?: Uint8Array };
      let target: DeviceRow | undefined;
      if (request.body.businessToken !== undefined) {
        // A JWT signed by the business's enrollment key, purpose "revoke-device", `sub` the device id
        // (business-tokens.ts): checked before anything about the device is looked at.
        const { businessId } = await verifyBusinessToken(ctx.db, request.body.businessToken, {
          purpose: 'revoke-device',
          subject: request.params.deviceId,
          maxLifetimeSeconds: ctx.config.auth.maxEnrollmentTokenLifetimeSeconds,
        });
        target = await getDevice(ctx.db, request.params.deviceId);
        if (!target || businessOf(target.identity_id as IdentityId) !== businessId) throw new NotFoundError('unknown_device', 'no such device of this business');
        change = { by: 'business' };
      } else {
        if (request.body.signature === undefined) throw new UnauthorizedError('revocation_unauthorized', 'send a signature or a business token');
        await requireDevice(ctx)(request as FastifyRequest);
        const me = deviceOf(request);
        const owner = await activeDevice(ctx, me.deviceId);
        target = await getDevice(ctx.db, request.params.deviceId);
        if (!target || owner.identity_id !== target.identity_id) throw new NotFoundError('unknown_device', 'no such device of your identity');
        const { label } = await ctx.directory.labelOf(ctx.db, target.identity_id);
        const signature = fromBase64(request.body.signature, 'signature');
        const message = revocationMessage({ label: toBase64Url(label), deviceId: target.id, byDevice: owner.id });
        if (!verifyEd25519(new Uint8Array(owner.identity_key), message, signature)) {
          throw new UnauthorizedError('revocation_signature_invalid', 'the revocation signature does not verify');
        }
        change = { by: 'owner', byDevice: owner.id, signature };
      }
      return revokeDevice(ctx, target, change);
    },
  );
}

async function activeDevice(ctx: RouteContext, deviceId: string): Promise<DeviceRow> {
  const device = await getDevice(ctx.db, deviceId);
  if (!device || device.status !== 'active') throw new ForbiddenError('device_not_active', 'only an approved, active device can do this');
  return device;
}

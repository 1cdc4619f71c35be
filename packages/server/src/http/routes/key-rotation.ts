/**
 * A device replaces its own keys (docs/key-rotation.md): the new identity and MLS signature
 * keys, the rotation message signed by the key being replaced (authority) and by the new one
 * (possession), and KeyPackages under the new signature key. The device row, its KeyPackages
 * and the `device-rotated` key-log entry change in one transaction; contacts replay the entry
 * and follow the chain instead of seeing a key change they cannot explain.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import {
  ConflictError,
  DeviceIdSchema,
  ErrorBodySchema,
  ForbiddenError,
  InvalidInputError,
  KeyLogChangeResponseSchema,
  RateLimitedError,
  RotateDeviceKeysRequestSchema,
  UnauthorizedError,
  equalBytes,
  fromBase64,
  toBase64Url,
  verifyEd25519,
} from '@parley/core';
import { rotationMessage } from '@parley/core/keylog';
import { getDevice, rotateDeviceKeys, suitesOf } from '../../repos/devices.js';
import { deleteKeyPackagesOf, insertKeyPackages } from '../../repos/key-packages.js';
import { takeToken } from '../../repos/rate-limits.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';
import { requireLastResortPerSuite, validateKeyPackages } from './key-packages.js';

/** Rotations a device may make per day (a burst of as many, refilled over 24 h). */
const ROTATIONS_PER_DAY = 5;

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema };

export function registerKeyRotationRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/devices/:deviceId/rotate-keys',
    {
      schema: {
        tags: ['key transparency'],
        operationId: 'rotateDeviceKeys',
        summary: "Replace this device's identity and MLS signature keys (signed by the current identity key and by the new one)",
        params: Type.Object({ deviceId: DeviceIdSchema }),
        body: RotateDeviceKeysRequestSchema,
        response: { 200: KeyLogChangeResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      // Only a device itself rotates its keys: another device of the identity revokes it instead.
      if (me.deviceId !== request.params.deviceId) throw new ForbiddenError('not_your_device', 'a device rotates only its own keys');
      const device = await getDevice(ctx.db, me.deviceId);
      if (!device || device.status !== 'active') throw new ForbiddenError('device_not_active', 'only an approved, active device can rotate its keys');
      const body = request.body;
      const identityKey = fromBase64(body.identityKey, 'identityKey');
      const signatureKey = fromBase64(body.signatureKey, 'signatureKey');
      const previousIdentityKey = new Uint8Array(device.identity_key);
      if (identityKey.length !== 32) throw new InvalidInputError('identityKey must be a 32-byte Ed25519 key', { code: 'invalid_key' });
      if (equalBytes(identityKey, previousIdentityKey)) throw new InvalidInputError('the new identity key is the current one', { code: 'rotation_same_key' });
      if (equalBytes(signatureKey, new Uint8Array(device.signature_key))) {
        throw new InvalidInputError('the new signature key is the current one', { code: 'rotation_same_key' });
      }
      const { label } = await ctx.directory.labelOf(ctx.db, device.identity_id);
      const message = rotationMessage({
        label: toBase64Url(label),
        deviceId: device.id,
        previousIdentityKey: toBase64Url(previousIdentityKey),
        identityKey: toBase64Url(identityKey),
        signatureKey: toBase64Url(signatureKey),
      });
      const signature = fromBase64(body.signature, 'signature');
      const proof = fromBase64(body.proof, 'proof');
      if (!verifyEd25519(previousIdentityKey, message, signature)) {
        throw new UnauthorizedError('rotation_signature_invalid', 'the rotation is not signed by the current identity key');
      }
      if (!verifyEd25519(identityKey, message, proof)) {
        throw new UnauthorizedError('rotation_proof_invalid', 'the rotation is not signed by the new identity key');
      }
      // Every rotation is a key-log entry contacts replay: a device cannot flood its identity's history.
      const take = await takeToken(ctx.db, `rotate:${device.id}`, ROTATIONS_PER_DAY, ROTATIONS_PER_DAY / 86_400);
      if (!take.allowed) throw new RateLimitedError('too many key rotations for this device; retry later', take.retryAfterMs);
      const owner = { identityId: device.identity_id, deviceId: device.id, signatureKey, suites: suitesOf(device) };
      const oneTime = await validateKeyPackages(ctx, body.keyPackages, owner);
      const lastResort = await validateKeyPackages(ctx, [body.lastResortKeyPackage, ...(body.lastResortKeyPackages ?? [])], owner);
      // Every KeyPackage is withdrawn below: each stated suite needs its new last-resort one.
      requireLastResortPerSuite(lastResort, owner.suites);
      const pendingId = await ctx.db.transaction(async (tx) => {
        // Still the key this rotation was signed against (a concurrent rotation, or a revocation, wins).
        if (!(await rotateDeviceKeys(tx, { id: device.id, previousIdentityKey, identityKey, signatureKey }))) {
          throw new ConflictError('rotation_conflict', "the device's keys or status changed meanwhile; look them up and retry");
        }
        // KeyPackages carry the old signature key: whoever claims one from now on gets the new key.
        await deleteKeyPackagesOf(tx, device.id);
        await insertKeyPackages(tx, device.id, oneTime, lastResort);
        return ctx.directory.deviceRotated(tx, { identityId: device.identity_id, deviceId: device.id, identityKey, signatureKey, signature, proof });
      });
      ctx.directory.keyLog.kick?.();
      const { index } = await ctx.directory.keyLog.waitSequenced(pendingId);
      ctx.log.info({ device: device.id, keyLogIndex: index }, 'device keys rotated');
      return { deviceId: device.id, index, status: 'active' };
    },
  );
}

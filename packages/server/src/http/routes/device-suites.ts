/**
 * `POST /v1/devices/me/suites`: a device states a newer list of the MLS suites it supports (an
 * app update brought X-Wing), signed by its identity key, with KeyPackages (and a last-resort
 * one) for every suite it adds. The statement becomes a `device-suites` key-log entry, so a
 * contact's client learns the device's suites from the verified log, not from the server's
 * word, and notices when the server withholds that suite's KeyPackages (docs/post-quantum.md).
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  AnnounceSuitesRequestSchema,
  AnnounceSuitesResponseSchema,
  ConflictError,
  ErrorBodySchema,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  UnauthorizedError,
  fromBase64,
  toBase64Url,
  verifyEd25519,
} from '@parley/core';
import { suitesMessage } from '@parley/core/keylog';
import { parseSuiteName } from '@parley/core/mls';
import { getDevice, setDeviceSuites, suitesOf } from '../../repos/devices.js';
import { deleteKeyPackagesOutside, insertKeyPackages } from '../../repos/key-packages.js';
import { takeToken } from '../../repos/rate-limits.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';
import { requireLastResortPerSuite, validateKeyPackages } from './key-packages.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema };
/** Every statement is a key-log entry contacts replay: a device cannot flood its identity's history. */
const STATEMENTS_PER_DAY = 10;

export function registerDeviceSuitesRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/v1/devices/me/suites',
    {
      schema: {
        tags: ['registry'],
        operationId: 'announceSuites',
        summary: 'State the MLS cipher suites this device supports (signed), with KeyPackages of the new ones',
        body: AnnounceSuitesRequestSchema,
        response: { 200: AnnounceSuitesResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const me = deviceOf(request);
      const body = request.body;
      const device = await getDevice(ctx.db, me.deviceId);
      if (!device || device.status === 'revoked') throw new NotFoundError('unknown_device', 'no such active device');
      if (body.suites.some((name) => parseSuiteName(name) === undefined)) throw new InvalidInputError('unsupported cipher suite', { code: 'unsupported_suite' });
      if (!body.suites.includes(device.suite)) throw new InvalidInputError("suites must keep the device's own suite", { code: 'unsupported_suite' });
      if (body.seq <= device.suites_seq) throw new ConflictError('suites_stale', 'a statement with this or a later seq was logged before', { details: { seq: device.suites_seq } });
      const identityKey = new Uint8Array(device.identity_key);
      const message = suitesMessage({ deviceId: device.id, identityKey: toBase64Url(identityKey), seq: body.seq, suites: body.suites });
      const signature = fromBase64(body.signature, 'signature');
      if (!verifyEd25519(identityKey, message, signature)) throw new UnauthorizedError('suites_signature_invalid', 'the statement is not signed by the identity key');
      // Before the costly part (verifying up to hundreds of KeyPackages): the rate limit.
      const take = await takeToken(ctx.db, `suites:${device.id}`, STATEMENTS_PER_DAY, STATEMENTS_PER_DAY / 86_400);
      if (!take.allowed) throw new RateLimitedError('too many suite statements for this device; retry later', take.retryAfterMs);
      const owner = { identityId: device.identity_id, deviceId: device.id, signatureKey: new Uint8Array(device.signature_key), suites: body.suites };
      const oneTime = await validateKeyPackages(ctx, body.keyPackages, owner);
      const lastResort = await validateKeyPackages(ctx, body.lastResortKeyPackages, owner);
      // Every suite added comes with its last-resort KeyPackage (those stated before have theirs).
      const before = suitesOf(device);
      requireLastResortPerSuite(lastResort, body.suites.filter((name) => !before.includes(name)));
      const pendingId = await ctx.db.transaction(async (tx) => {
        if (!(await setDeviceSuites(tx, device.id, body.suites, body.seq))) {
          throw new ConflictError('suites_stale', "the device's suites or status changed meanwhile; look them up and retry");
        }
        await deleteKeyPackagesOutside(tx, device.id, body.suites);
        await insertKeyPackages(tx, device.id, oneTime, lastResort);
        return ctx.directory.deviceSuites(tx, { identityId: device.identity_id, deviceId: device.id, seq: body.seq, suites: body.suites, signature });
      });
      ctx.directory.keyLog.kick?.();
      const { index } = await ctx.directory.keyLog.waitSequenced(pendingId);
      ctx.log.info({ device: device.id, suites: body.suites, keyLogIndex: index }, 'device suites stated');
      return { suites: body.suites, keyLog: { index } };
    },
  );
}

/**
 * Social recovery (docs/social-recovery.md): holder keys, recovery sets, requests and the
 * holders' answers. Every route needs a device session; who may do what is checked in
 * recovery/recovery-service.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  ErrorBodySchema,
  RecoveryHolderKeyListSchema,
  RecoveryHolderKeyPutSchema,
  RecoveryHolderKeySchema,
  RecoveryIdentityParamsSchema,
  RecoveryReleaseSchema,
  RecoveryRequestCreateSchema,
  RecoveryRequestListSchema,
  RecoveryRequestParamsSchema,
  RecoveryRequestViewSchema,
  RecoverySetPutSchema,
  RecoverySetSchema,
} from '@parley/core';
import { RecoveryService } from '../../recovery/recovery-service.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 429: ErrorBodySchema, 503: ErrorBodySchema };
const tags = ['recovery'];

/**
 * Registers the social-recovery routes.
 *
 * @example
 * registerRecoveryRoutes(app, ctx);
 */
export function registerRecoveryRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const service = new RecoveryService(ctx.db);
  const onRequest = requireDevice(ctx);

  r.put(
    '/v1/recovery/holder-key',
    {
      schema: {
        tags,
        summary: "Publish this device's X25519 holder key (HPKE, RFC 9180), signed by its identity key",
        operationId: 'putRecoveryHolderKey',
        body: RecoveryHolderKeyPutSchema,
        response: { 200: RecoveryHolderKeySchema, ...errors },
      },
      onRequest,
    },
    async (request) => service.putHolderKey(deviceOf(request), request.body),
  );

  r.get(
    '/v1/recovery/holder-keys/:identityId',
    {
      schema: {
        tags,
        summary: "The holder keys of an identity's active devices (an identity this device may see)",
        operationId: 'listRecoveryHolderKeys',
        params: RecoveryIdentityParamsSchema,
        response: { 200: RecoveryHolderKeyListSchema, ...errors },
      },
      onRequest,
    },
    async (request) => service.holderKeys(deviceOf(request), request.params.identityId),
  );

  r.put(
    '/v1/recovery/set',
    {
      schema: {
        tags,
        summary: "Store this identity's recovery set (signed manifest, one sealed share per holder device), replacing the previous one",
        operationId: 'putRecoverySet',
        body: RecoverySetPutSchema,
        response: { 201: RecoverySetSchema, ...errors },
      },
      onRequest,
    },
    async (request, reply) => {
      const set = await service.putSet(deviceOf(request), request.body);
      ctx.log.info({ identity: set.manifest.identityId, set: set.manifest.setId, threshold: set.manifest.threshold, copies: set.manifest.shares.length }, 'recovery set stored');
      return reply.status(201).send(set);
    },
  );

  r.get(
    '/v1/recovery/set',
    {
      schema: { tags, summary: "This identity's recovery set: the signed manifest (no shares)", operationId: 'getRecoverySet', response: { 200: RecoverySetSchema, ...errors } },
      onRequest,
    },
    async (request) => service.getSet(deviceOf(request)),
  );

  r.post(
    '/v1/recovery/requests',
    {
      schema: {
        tags,
        summary: "Ask the holders of this identity's recovery set for their shares (signed, with an ephemeral HPKE key; open for at most 24 h)",
        operationId: 'createRecoveryRequest',
        body: RecoveryRequestCreateSchema,
        response: { 201: RecoveryRequestViewSchema, ...errors },
      },
      onRequest,
    },
    async (request, reply) => {
      const view = await service.createRequest(deviceOf(request), request.body);
      ctx.log.info({ identity: view.request.identityId, device: view.request.deviceId, request: view.request.requestId }, 'recovery request opened');
      return reply.status(201).send(view);
    },
  );

  r.get(
    '/v1/recovery/requests',
    {
      schema: {
        tags,
        summary: "Open recovery requests of this device's identity, and those for sets where this device holds a share",
        operationId: 'listRecoveryRequests',
        response: { 200: RecoveryRequestListSchema, ...errors },
      },
      onRequest,
    },
    async (request) => ({ requests: await service.listRequests(deviceOf(request)) }),
  );

  r.get(
    '/v1/recovery/requests/:requestId',
    {
      schema: {
        tags,
        summary: "One recovery request: this device's sealed share if it holds one; the released shares for the requesting device",
        operationId: 'getRecoveryRequest',
        params: RecoveryRequestParamsSchema,
        response: { 200: RecoveryRequestViewSchema, ...errors },
      },
      onRequest,
    },
    async (request) => service.getRequest(deviceOf(request), request.params.requestId),
  );

  r.post(
    '/v1/recovery/requests/:requestId/release',
    {
      schema: {
        tags,
        summary: "A holder releases its share, re-sealed to the request's ephemeral key (once)",
        operationId: 'releaseRecoveryShare',
        params: RecoveryRequestParamsSchema,
        body: RecoveryReleaseSchema,
        response: { 200: RecoveryRequestViewSchema, ...errors },
      },
      onRequest,
    },
    async (request) => service.answer(deviceOf(request), request.params.requestId, request.body.sealed),
  );

  r.post(
    '/v1/recovery/requests/:requestId/decline',
    {
      schema: {
        tags,
        summary: 'A holder declines to release its share (once)',
        operationId: 'declineRecoveryRequest',
        params: RecoveryRequestParamsSchema,
        response: { 200: RecoveryRequestViewSchema, ...errors },
      },
      onRequest,
    },
    async (request) => service.answer(deviceOf(request), request.params.requestId, null),
  );
}

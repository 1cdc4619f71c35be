/**
 * Escrow (docs/escrow.md). Who may do what to whom:
 * - registering a business's escrow key: the operator (admin token), under that business's
 *   path; the record must name that business and its key id must certify it;
 * - reading the escrow policy: a sending device of the business (its own business only);
 * - requests, approvals, openings, lists: the admin token is the transport credential; the
 *   substance is authorised by the officers' signatures, checked against the officers of the
 *   message's own business's escrow key. Nothing is released before the opening is sequenced
 *   in the audit log.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  BusinessParamsSchema,
  ErrorBodySchema,
  EscrowApprovalResultSchema,
  EscrowApprovalSubmitSchema,
  EscrowKeyRegisteredSchema,
  EscrowListQuerySchema,
  EscrowOpenResponseSchema,
  EscrowPolicyResponseSchema,
  EscrowRequestCreateSchema,
  EscrowRequestDetailSchema,
  EscrowRequestListSchema,
  EscrowRequestParamsSchema,
  EscrowRequestViewSchema,
} from '@parley/core';
import { EscrowKeyRecordSchema } from '@parley/core/escrow';
import { businessRouting } from '../../routing/routing-config.js';
import { deviceOf, requireAdmin, requireDevice, type RouteContext } from '../context.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 503: ErrorBodySchema };

/**
 * Registers the escrow routes.
 *
 * @example
 * registerEscrowRoutes(app, ctx);
 */
export function registerEscrowRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { gate, service } = ctx.escrow;

  r.post(
    '/v1/admin/businesses/:businessId/escrow-keys',
    {
      schema: {
        tags: ['admin', 'escrow'],
        summary: "Register a business's escrow key (public record: key, threshold, officers, shares sealed to the officers); appended to the audit log",
        operationId: 'registerEscrowKey',
        params: BusinessParamsSchema,
        body: EscrowKeyRecordSchema,
        response: { 201: EscrowKeyRegisteredSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request, reply) => reply.status(201).send(await service.registerKey(request.params.businessId, request.body)),
  );

  r.get(
    '/v1/escrow/policy',
    {
      schema: {
        tags: ['escrow'],
        summary: "The calling sender's business's classes under escrow, each with its escrow key's public record",
        operationId: 'getEscrowPolicy',
        response: { 200: EscrowPolicyResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const device = deviceOf(request);
      return gate.policyFor(device, businessRouting(ctx.config.routing, device.businessId).senderKinds ?? ['sender']);
    },
  );

  r.post(
    '/v1/escrow/requests',
    {
      schema: {
        tags: ['escrow'],
        summary: 'Request the opening of an escrowed message (reason, requester key); appended to the audit log',
        operationId: 'createEscrowRequest',
        body: EscrowRequestCreateSchema,
        response: { 201: EscrowRequestViewSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request, reply) => reply.status(201).send(await service.createRequest(request.body)),
  );

  r.get(
    '/v1/escrow/requests',
    {
      schema: {
        tags: ['escrow'],
        summary: 'Escrow requests (of one message, or the latest) with their approvals, status and audit-log indexes',
        operationId: 'listEscrowRequests',
        querystring: EscrowListQuerySchema,
        response: { 200: EscrowRequestListSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => ({ requests: await service.list(request.query.messageId) }),
  );

  r.get(
    '/v1/escrow/requests/:requestId',
    {
      schema: {
        tags: ['escrow'],
        summary: "One request with the message's commitment and its escrow key's record (what an officer checks)",
        operationId: 'getEscrowRequest',
        params: EscrowRequestParamsSchema,
        response: { 200: EscrowRequestDetailSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => service.detail(request.params.requestId),
  );

  r.post(
    '/v1/escrow/requests/:requestId/approvals',
    {
      schema: {
        tags: ['escrow'],
        summary: "An officer's signed approval with its share sealed to the requester's key; appended to the audit log",
        operationId: 'approveEscrowRequest',
        params: EscrowRequestParamsSchema,
        body: EscrowApprovalSubmitSchema,
        response: { 200: EscrowApprovalResultSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => service.approve(request.params.requestId, request.body),
  );

  r.post(
    '/v1/escrow/requests/:requestId/open',
    {
      schema: {
        tags: ['escrow'],
        summary: 'With enough approvals: records the opening in the audit log, then releases the sealed blob and the released shares',
        operationId: 'openEscrowRequest',
        params: EscrowRequestParamsSchema,
        response: { 200: EscrowOpenResponseSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => service.open(request.params.requestId),
  );
}

/** Receipts and evidence bundles (the audit log itself is served by logs.ts). */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { ErrorBodySchema, MessageIdParamsSchema, ReceiptRequestSchema, ReceiptResponseSchema } from '@parley/core';
import { EvidenceBundleSchema } from '@parley/core/audit';
import { deviceOf, hasAdminToken, requireAdminOrDevice, requireDevice, type RouteContext } from '../context.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema };

export function registerAuditRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const isAdmin = (request: FastifyRequest) => hasAdminToken(ctx, request);

  r.post(
    '/v1/receipts',
    {
      schema: {
        tags: ['audit'],
        operationId: 'submitReceipt',
        summary: "Record a device's signed receipt of a business message in the audit log (idempotent)",
        body: ReceiptRequestSchema,
        response: { 200: ReceiptResponseSchema, 201: ReceiptResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request, reply) => {
      const result = await ctx.audit.receipt(deviceOf(request), request.body);
      return reply.status(result.duplicate ? 200 : 201).send(result);
    },
  );

  r.get(
    '/v1/audit/messages/:messageId/evidence',
    {
      schema: {
        tags: ['audit'],
        operationId: 'getEvidence',
        summary: 'The evidence bundle of a business message (sender, recipient or operator)',
        params: MessageIdParamsSchema,
        response: { 200: EvidenceBundleSchema, ...errors },
      },
      onRequest: requireAdminOrDevice(ctx),
    },
    async (request) => ctx.audit.evidence(request.params.messageId, isAdmin(request) ? 'admin' : deviceOf(request)),
  );
}

/**
 * Business administration (the operator's admin token only): list and show businesses,
 * disable and enable one, add and retire its enrollment keys. Creating a business is
 * `POST /v1/admin/businesses` (registry.ts). Every action is logged with metadata only
 * (action, business id, kid), never a key or a token.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  BusinessParamsSchema,
  BusinessViewSchema,
  EnrollmentKeyParamsSchema,
  EnrollmentKeyRequestSchema,
  EnrollmentKeyViewSchema,
  ErrorBodySchema,
  ListBusinessesQuerySchema,
  ListBusinessesResponseSchema,
} from '@parley/core';
import { addEnrollmentKey, getBusinessView, listBusinesses, retireEnrollmentKey, setBusinessDisabled } from '../../repos/business-admin.js';
import { requireAdmin, type RouteContext } from '../context.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema };

/** Page size of `GET /v1/admin/businesses` without `limit`, and its maximum. */
const PAGE = { default: 100, max: 200 } as const;

/**
 * Registers the admin routes of business administration.
 *
 * @example
 * registerAdminRoutes(app, ctx);
 */
export function registerAdminRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const audit = (action: string, business?: string, kid?: string) =>
    ctx.log.info({ action, ...(business !== undefined ? { business } : {}), ...(kid !== undefined ? { kid } : {}) }, 'admin action');

  r.get(
    '/v1/admin/businesses',
    {
      schema: {
        tags: ['admin'],
        summary: 'List businesses by id, a page at a time',
        operationId: 'listBusinesses',
        querystring: ListBusinessesQuerySchema,
        response: { 200: ListBusinessesResponseSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => {
      const limit = Math.min(Number(request.query.limit ?? PAGE.default), PAGE.max);
      const rows = await listBusinesses(ctx.db, request.query.after ?? '', limit + 1);
      const businesses = rows.slice(0, limit);
      audit('businesses.list');
      return { businesses, ...(rows.length > limit ? { next: businesses[businesses.length - 1]!.id } : {}) };
    },
  );

  r.get(
    '/v1/admin/businesses/:businessId',
    {
      schema: {
        tags: ['admin'],
        summary: 'One business with its enrollment keys (retired ones too)',
        operationId: 'getBusiness',
        params: BusinessParamsSchema,
        response: { 200: BusinessViewSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => {
      const view = await getBusinessView(ctx.db, request.params.businessId);
      audit('business.show', view.id);
      return view;
    },
  );

  for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
    r.post(
      `/v1/admin/businesses/:businessId/${action}`,
      {
        schema: {
          tags: ['admin'],
          summary: disabled
            ? "Disable a business: its enrollment tokens, its devices' new sessions and their message submissions are refused (business_disabled)"
            : 'Enable a disabled business again',
          operationId: `${action}Business`,
          params: BusinessParamsSchema,
          response: { 200: BusinessViewSchema, ...errors },
        },
        onRequest: requireAdmin(ctx),
      },
      async (request) => {
        const { businessId } = request.params;
        await setBusinessDisabled(ctx.db, businessId, disabled);
        // This node at once; the others within their cache's lifetime (5 s).
        ctx.businessStatus.forget(businessId);
        audit(`business.${action}`, businessId);
        return getBusinessView(ctx.db, businessId);
      },
    );
  }

  r.post(
    '/v1/admin/businesses/:businessId/keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'Add an enrollment key (Ed25519 public JWK) to a business',
        operationId: 'addEnrollmentKey',
        params: BusinessParamsSchema,
        body: EnrollmentKeyRequestSchema,
        response: { 201: EnrollmentKeyViewSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request, reply) => {
      const { businessId } = request.params;
      const key = await addEnrollmentKey(ctx.db, businessId, request.body);
      audit('key.add', businessId, key.kid);
      return reply.status(201).send(key);
    },
  );

  r.delete(
    '/v1/admin/businesses/:businessId/keys/:kid',
    {
      schema: {
        tags: ['admin'],
        summary: 'Retire an enrollment key: tokens signed with it are refused from now on',
        operationId: 'retireEnrollmentKey',
        params: EnrollmentKeyParamsSchema,
        response: { 200: EnrollmentKeyViewSchema, ...errors },
      },
      onRequest: requireAdmin(ctx),
    },
    async (request) => {
      const { businessId, kid } = request.params;
      const key = await retireEnrollmentKey(ctx.db, businessId, kid);
      audit('key.retire', businessId, kid);
      return key;
    },
  );
}

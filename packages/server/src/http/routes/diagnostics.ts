/**
 * `POST /v1/diagnostics`: a device reports metadata about itself for the operator console —
 * how many envelopes it could not read, by reason code, and (a customer's device) whether the
 * customer verified the business — with its SDK version and platform. Never message ids,
 * content or free text: codes outside core's fixed lists are stored as `other`, counts are
 * aggregated by the hour with no device or identity in the row. The reporter is the session's
 * device: a device can only speak for itself. Small bodies only, and a few reports an hour.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { DiagnosticsAcceptedSchema, DiagnosticsReportSchema, ErrorBodySchema, RateLimitedError } from '@parley/core';
import { getIdentity } from '../../repos/identities.js';
import { recordDiagnostics } from '../../repos/diagnostics.js';
import { takeToken } from '../../repos/rate-limits.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';

/** Reports per device and hour (the SDK sends at most one a minute, and on connect). */
export const DIAGNOSTICS_REPORTS_PER_HOUR = 10;
/** Largest report body: a full report is a few hundred bytes. */
export const DIAGNOSTICS_MAX_BODY_BYTES = 4096;

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 413: ErrorBodySchema, 429: ErrorBodySchema };

export function registerDiagnosticsRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/v1/diagnostics',
    {
      schema: {
        tags: ['diagnostics'],
        operationId: 'reportDiagnostics',
        summary: "Report this device's decrypt failures (counts by reason code) and its customer's verification state: metadata only",
        body: DiagnosticsReportSchema,
        response: { 202: DiagnosticsAcceptedSchema, ...errors },
      },
      bodyLimit: DIAGNOSTICS_MAX_BODY_BYTES,
      onRequest: requireDevice(ctx),
    },
    async (request, reply) => {
      const me = deviceOf(request);
      const take = await takeToken(ctx.db, `diagnostics:${me.deviceId}`, DIAGNOSTICS_REPORTS_PER_HOUR, DIAGNOSTICS_REPORTS_PER_HOUR / 3600);
      if (!take.allowed) throw new RateLimitedError('too many diagnostics reports from this device; retry later', take.retryAfterMs);
      const identity = request.body.verification ? await getIdentity(ctx.db, me.identityId) : undefined;
      await recordDiagnostics(ctx.db, { identityId: me.identityId, identityKind: identity?.kind }, request.body);
      return reply.status(202).send({ accepted: true });
    },
  );
}

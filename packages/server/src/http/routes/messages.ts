/** The relay over HTTP: submit, mailbox fetch, ack, GroupInfo for resync. */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@parley/core/typebox';
import {
  AckRequestSchema,
  AckResponseSchema,
  ConversationIdSchema,
  ErrorBodySchema,
  GroupInfoResponseSchema,
  MailboxQuerySchema,
  MailboxResponseSchema,
  SubmitRequestSchema,
  SubmitResponseSchema,
} from '@parley/core';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';
import { tooLongIsTooLarge } from '../errors.js';
import { traceSubmit } from '../../observability/span-message-path.js';

const errors = {
  400: ErrorBodySchema,
  401: ErrorBodySchema,
  403: ErrorBodySchema,
  404: ErrorBodySchema,
  409: ErrorBodySchema,
  413: ErrorBodySchema,
  503: ErrorBodySchema,
};

export function registerMessageRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/v1/messages',
    {
      schema: {
        tags: ['relay'],
        operationId: 'submitMessage',
        summary: 'Submit an MLS message (stored durably before the response)',
        body: SubmitRequestSchema,
        response: { 200: SubmitResponseSchema, 201: SubmitResponseSchema, ...errors },
      },
      // An MLS message over LIMITS.messageBytes is 413, whether the schema or the relay sees it first.
      schemaErrorFormatter: tooLongIsTooLarge(['/message']),
      onRequest: requireDevice(ctx),
    },
    async (request, reply) => {
      const device = deviceOf(request);
      // parley.submit: a child of the caller's W3C traceparent, if it sent one.
      const result = await traceSubmit(ctx.relay.tracing, { path: 'http', parent: ctx.relay.tracing.incoming(request.headers), sender: device }, () => ctx.relay.submit(device, request.body));
      return reply.status(result.duplicate ? 200 : 201).send(result);
    },
  );

  r.get(
    '/v1/mailbox',
    {
      schema: {
        tags: ['relay'],
        operationId: 'getMailbox',
        summary: 'Pending envelopes of this device, oldest first',
        querystring: MailboxQuerySchema,
        response: { 200: MailboxResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const limit = Math.min(Number(request.query.limit ?? ctx.config.limits.mailboxPageSize), 1000);
      return ctx.relay.fetch(deviceOf(request).deviceId, limit, request.query.after ?? '0');
    },
  );

  r.post(
    '/v1/mailbox/ack',
    {
      schema: { tags: ['relay'], operationId: 'ackEnvelopes', summary: 'Acknowledge envelopes (removes them from the mailbox)', body: AckRequestSchema, response: { 200: AckResponseSchema, ...errors } },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const deviceId = deviceOf(request).deviceId;
      const result = await ctx.relay.ack(deviceId, request.body.ids);
      ctx.notifier.notifyAcked(deviceId, request.body.ids);
      return result;
    },
  );

  r.get(
    '/v1/conversations/:conversationId/group-info',
    {
      schema: {
        tags: ['relay'],
        operationId: 'getGroupInfo',
        summary: 'Latest GroupInfo of a conversation (members only), for resync by external commit',
        params: Type.Object({ conversationId: ConversationIdSchema }),
        response: { 200: GroupInfoResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => ctx.relay.groupInfo(deviceOf(request), request.params.conversationId),
  );
}

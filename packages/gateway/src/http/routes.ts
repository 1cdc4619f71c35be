/**
 * The REST API the bank's services call. Every route but the health check requires an
 * API key (`Authorization: Bearer pgw_…`); every instance serves every route (state is
 * in the shared database), so a load balancer may send any request anywhere.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@parley/core/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Database } from '@parley/server';
import { authenticateApiKey } from '../api-keys.js';
import { GatewayError } from '../errors.js';
import type { MessageStore } from '../messages/message-store.js';
import { listEvents, webhookBody } from '../webhooks/events.js';
import { isWebhookUrl } from '../webhooks/webhook-url.js';
import { messageView } from './message-view.js';
import {
  EnrollmentRequestSchema,
  EnrollmentResponseSchema,
  EventsQuerySchema,
  EventsResponseSchema,
  EvidenceQuerySchema,
  GatewayErrorBodySchema,
  MAX_BODY_CHARS,
  MessageIdParamsSchema,
  MessageViewSchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
} from './schemas.js';

/** What the routes need from the running gateway. */
export interface RouteDeps {
  readonly db: Database;
  readonly messages: MessageStore;
  /** Wakes the sending loop when this instance leads. */
  poke(): void;
  /** `{ token, expiresAt, serverUrl }` for one new device of a customer. */
  enroll(request: { customerId: string; phone?: string; name?: string }): Promise<{ token: string; expiresAt: string; serverUrl: string }>;
  /** The evidence bundle of a sent message (JSON), revealed on request. */
  evidence(messageId: string, reveal: boolean): Promise<unknown>;
  leading(): boolean;
  /** The business's content policies on an accepted body (`--dlp`): a block throws `content_blocked` before anything is stored. */
  screen(message: { readonly class: string; readonly body: string }): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyId?: string;
  }
}

const errors = { 400: GatewayErrorBodySchema, 401: GatewayErrorBodySchema, 404: GatewayErrorBodySchema, 409: GatewayErrorBodySchema, 413: GatewayErrorBodySchema, 503: GatewayErrorBodySchema };
const sendErrors = { ...errors, 422: GatewayErrorBodySchema };
const security = [{ gatewayApiKey: [] }];

/**
 * @example
 * registerGatewayRoutes(app, deps)
 */
export function registerGatewayRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const requireKey = async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const bearer = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const keyId = bearer ? await authenticateApiKey(deps.db, bearer) : undefined;
    if (!keyId) throw new GatewayError('unauthorized', 'a valid API key is required (Authorization: Bearer pgw_…)');
    request.apiKeyId = keyId;
  };

  r.post(
    '/v1/messages',
    {
      schema: {
        operationId: 'sendMessage',
        tags: ['messages'],
        summary: 'Send a message to a customer (end-to-end encrypted to their devices; web link or invitation when they have no app)',
        security,
        body: SendMessageRequestSchema,
        response: { 202: SendMessageResponseSchema, ...sendErrors },
      },
      onRequest: requireKey,
    },
    async (request, reply) => {
      const body = request.body;
      if (body.statusCallback !== undefined && !isWebhookUrl(body.statusCallback)) throw new GatewayError('invalid_request', 'statusCallback must be an http(s) URL');
      // In UTF-8 bytes too: 64 KiB of text and its framing stay well inside the relay's 256 KiB message.
      if (new TextEncoder().encode(body.body).length > MAX_BODY_CHARS) throw new GatewayError('payload_too_large', `the body is over ${MAX_BODY_CHARS} bytes of UTF-8`);
      // "Never a full card number in class X": refused here, before the bank's text is stored or leaves.
      await deps.screen(body);
      const { row, replayed } = await deps.messages.accept(deps.db, request.apiKeyId!, body);
      if (!replayed) deps.poke();
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({ id: row.id, status: row.status });
    },
  );

  r.get(
    '/v1/messages/:id',
    {
      schema: {
        operationId: 'getMessage',
        tags: ['messages'],
        summary: "A message's status, delivery path, every routing decision, per-device receipts and whether its evidence is complete",
        security,
        params: MessageIdParamsSchema,
        response: { 200: MessageViewSchema, ...errors },
      },
      onRequest: requireKey,
    },
    async (request) => {
      const row = await deps.messages.get(deps.db, request.params.id);
      if (!row) throw new GatewayError('unknown_message', 'no message with this id');
      return messageView(row);
    },
  );

  r.get(
    '/v1/messages/:id/evidence',
    {
      schema: {
        operationId: 'getMessageEvidence',
        tags: ['messages'],
        summary: 'The evidence bundle (verify it offline with `parley audit verify`); `reveal=true` adds the opening and the text for a dispute',
        security,
        params: MessageIdParamsSchema,
        querystring: EvidenceQuerySchema,
        response: { 200: Type.Unknown({ description: 'the evidence bundle (JSON)' }), ...errors },
      },
      onRequest: requireKey,
    },
    async (request) => {
      const row = await deps.messages.get(deps.db, request.params.id);
      if (!row) throw new GatewayError('unknown_message', 'no message with this id');
      if (row.status === 'queued' || row.status === 'sending' || row.mode === null) throw new GatewayError('evidence_unavailable', 'the message has not left yet');
      return deps.evidence(row.id, request.query.reveal === 'true');
    },
  );

  r.post(
    '/v1/enrollments',
    {
      schema: {
        operationId: 'createEnrollment',
        tags: ['enrollments'],
        summary: "A single-use enrollment token for one new device of a customer (hand it to the customer's app)",
        security,
        body: EnrollmentRequestSchema,
        response: { 201: EnrollmentResponseSchema, ...errors },
      },
      onRequest: requireKey,
    },
    async (request, reply) => reply.status(201).send(await deps.enroll(request.body)),
  );

  r.get(
    '/v1/events',
    {
      schema: {
        operationId: 'listEvents',
        tags: ['events'],
        summary: 'Every status event in order (the webhooks’ bodies): catch up after an outage with `after`',
        security,
        querystring: EventsQuerySchema,
        response: { 200: EventsResponseSchema, ...errors },
      },
      onRequest: requireKey,
    },
    async (request) => {
      const page = await listEvents(deps.db, {
        after: request.query.after ?? '0',
        limit: Number(request.query.limit ?? '100'),
        ...(request.query.messageId ? { messageId: request.query.messageId } : {}),
      });
      return { events: page.events.map((e) => ({ id: e.id, seq: e.seq, event: webhookBody(e) })), next: page.next };
    },
  );

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', leading: deps.leading() }));
}

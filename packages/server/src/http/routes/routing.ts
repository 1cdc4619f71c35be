/**
 * Routing over HTTP: push-token registration, provider webhooks, retrieval links (app
 * and web page), web messages for customers without the app, route inspection for the
 * console, and Prometheus metrics.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sendDownload } from '../blob-reply.js';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  ErrorBodySchema,
  ForbiddenError,
  NotFoundError,
  OkResponseSchema,
  ParleyError,
  PushRegistrationSchema,
  ConsentRequestSchema,
  MessageIdParamsSchema,
  RetrieveRequestSchema,
  RetrieveResponseSchema,
  RouteViewSchema,
  RouteStatusRequestSchema,
  RouteStatusResponseSchema,
  RateLimitedError,
  WebMessageRequestSchema,
  WebMessageResponseSchema,
  WebHandoffRequestSchema,
  WebHandoffResponseSchema,
  WebChallengeRequestSchema,
  WebChallengeResponseSchema,
  WebDescribeRequestSchema,
  WebDescribeResponseSchema,
  WebOpenRequestSchema,
  WebOpenResponseSchema,
  BLOB_ID_PATTERN,
  fromBase64,
  isParleyError,
} from '@parley/core';
import { capabilityGrantee } from '../../routing/web-blobs.js';
import { ChannelError } from '../../channels/channel.js';
import { takeToken } from '../../repos/rate-limits.js';
import { routeStatuses } from '../../routing/route-status.js';
import { deviceOf, requireAdminOrDevice, requireDevice, requireMetricsToken, type RouteContext } from '../context.js';

const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 404: ErrorBodySchema, 409: ErrorBodySchema, 410: ErrorBodySchema, 429: ErrorBodySchema, 502: ErrorBodySchema, 503: ErrorBodySchema };

const PAGE = readFileSync(new URL('../../routing/web/retrieve.html', import.meta.url), 'utf8');
const SCRIPT = readFileSync(new URL('../../routing/web/retrieve.js', import.meta.url), 'utf8');
/** The web message format's one definition (the Sender seals with the same file), served as is. */
const FORMAT = readFileSync(createRequire(import.meta.url).resolve('@parley/core/web-message'), 'utf8');
/** The attachment format opened in the browser (one file, typed by its .d.ts), served as is. */
const STREAM = readFileSync(createRequire(import.meta.url).resolve('@parley/core/attachment-stream'), 'utf8');
const BLOB_ID = new RegExp(BLOB_ID_PATTERN);
/** Web blob fetches per client address (a page fetches at most 10 blobs, and may retry). */
const WEB_BLOBS_PER_MINUTE = 60;
/** The page runs only its own script, talks only to this origin, and leaks no referrer. */
const PAGE_HEADERS = {
  // `img-src blob:`: the page shows a decrypted image attachment from a blob: URL it made itself.
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; img-src blob:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

export function registerRoutingRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { router, retrieval, metrics } = ctx.routing;
  /** The operator (admin token) or a device session. */
  const adminOrDevice = requireAdminOrDevice(ctx);

  r.put(
    '/v1/devices/me/push',
    {
      schema: {
        tags: ['routing'],
        operationId: 'registerPushToken',
        summary: "Register this device's push token (FCM or APNs) for wake-ups",
        body: PushRegistrationSchema,
        response: { 200: OkResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      await ctx.db.query('UPDATE devices SET push_provider = $2, push_token = $3 WHERE id = $1', [deviceOf(request).deviceId, request.body.provider, request.body.token]);
      return { ok: true as const };
    },
  );

  r.delete(
    '/v1/devices/me/push',
    { schema: { tags: ['routing'], operationId: 'deletePushToken', summary: "Forget this device's push token", response: { 200: OkResponseSchema, ...errors } }, onRequest: requireDevice(ctx) },
    async (request) => {
      await ctx.db.query('UPDATE devices SET push_provider = NULL, push_token = NULL WHERE id = $1', [deviceOf(request).deviceId]);
      return { ok: true as const };
    },
  );

  r.post(
    '/v1/retrieve',
    {
      schema: {
        tags: ['routing'],
        operationId: 'redeemRetrievalLink',
        summary: 'Redeem an app retrieval link (single use, recipient only): the MLS ciphertext it points at',
        body: RetrieveRequestSchema,
        response: { 200: RetrieveResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => retrieval.redeemApp(deviceOf(request), request.body.token),
  );

  r.post(
    '/v1/web-messages',
    {
      schema: {
        operationId: 'sendWebMessage',
        tags: ['routing'],
        summary:
          "A message to a customer without the app: only its ciphertext (and its signed commitment). For a web link the answer's `delivery` says what the sender's own SMS provider must send; the key, in the link's fragment, never reaches the server",
        body: WebMessageRequestSchema,
        response: { 200: WebMessageResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      const sender = deviceOf(request);
      // A message submission like /v1/messages: refused for a disabled business (business-status.ts).
      await ctx.businessStatus.assertActive(sender.businessId);
      const { attachments, ...body } = request.body;
      return retrieval.sendWebMessage(sender, {
        ...body,
        ciphertext: fromBase64(body.ciphertext, 'ciphertext'),
        ...(attachments ? { attachments: { manifest: fromBase64(attachments.manifest, 'manifest'), blobs: attachments.blobs } } : {}),
      });
    },
  );

  r.post(
    '/v1/web-messages/:messageId/handoff',
    {
      schema: {
        operationId: 'reportWebHandoff',
        tags: ['routing'],
        summary: "The sender reports whether its SMS provider took a web link (once; the sending business's sender devices only)",
        params: MessageIdParamsSchema,
        body: WebHandoffRequestSchema,
        response: { 200: WebHandoffResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => retrieval.reportWebHandoff(deviceOf(request), request.params.messageId, request.body),
  );

  r.post(
    '/v1/consents',
    {
      schema: {
        tags: ['routing'],
        operationId: 'recordConsent',
        summary: "Record a customer's consent to non-end-to-end fallback (for require-consent policies)",
        body: ConsentRequestSchema,
        response: { 200: OkResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request) => {
      await retrieval.recordConsent(deviceOf(request), request.body.customerId);
      return { ok: true as const };
    },
  );

  r.get(
    '/v1/routes/:messageId',
    {
      schema: {
        tags: ['routing'],
        operationId: 'getRoute',
        summary: "A message's route: state, delivery path and every decision (metadata only). Operator, or the sending business.",
        params: MessageIdParamsSchema,
        response: { 200: RouteViewSchema, ...errors },
      },
      onRequest: adminOrDevice,
    },
    async (request) => {
      const view = await router.view(request.params.messageId);
      const device = request.device;
      if (!view) throw new NotFoundError('unknown_message', 'no route for this message');
      if (device) {
        const [row] = await ctx.db.query<{ business_id: string }>('SELECT business_id FROM routes WHERE message_id = $1', [request.params.messageId]);
        if (row?.business_id !== device.businessId) throw new NotFoundError('unknown_message', 'no route for this message');
        const [identity] = await ctx.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
        if (identity?.kind !== 'sender') throw new ForbiddenError('sender_required', 'only the sending business sees routes');
      }
      return view;
    },
  );

  r.post(
    '/v1/routes/status',
    {
      schema: {
        operationId: 'getRouteStatuses',
        tags: ['routing'],
        summary:
          'The delivery status of up to 100 business messages in one call: route state, path and decisions, signed receipts, audit-log index (metadata only). Operator, or a sending device of the business; unknown ids and other businesses\' messages are absent.',
        body: RouteStatusRequestSchema,
        response: { 200: RouteStatusResponseSchema, 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 429: ErrorBodySchema },
      },
      onRequest: adminOrDevice,
    },
    async (request) => {
      const device = request.device;
      if (device) {
        // Who may see whom: only a sending identity, and only its own business's routes (route-status.ts).
        const [identity] = await ctx.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
        if (identity?.kind !== 'sender') throw new ForbiddenError('sender_required', 'only the sending business sees routes');
        const perMinute = ctx.config.limits.routeStatusPerMinute;
        const take = await takeToken(ctx.db, `route-status:${device.deviceId}`, perMinute, perMinute / 60);
        if (!take.allowed) throw new RateLimitedError('too many route status requests from this device; retry later', take.retryAfterMs);
      }
      const scope = device ? { businessId: device.businessId } : ('admin' as const);
      return { routes: await routeStatuses(ctx.db, ctx.auditLog.name, request.body.messageIds, scope) };
    },
  );

  // --- the web retrieval page (customers without the app) ---------------------
  app.get('/r/:token', { schema: { hide: true } }, async (_request, reply) => reply.headers({ ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8' }).send(PAGE));
  app.get('/assets/retrieve.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).send(SCRIPT),
  );
  app.get('/assets/web-message.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).send(FORMAT),
  );
  app.get('/assets/attachment-stream.js', { schema: { hide: true } }, async (_request, reply) =>
    reply.headers({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' }).send(STREAM),
  );

  // A web message's attachment, for the page that opened it (routing/web-blobs.ts): the capability
  // `/v1/web/open` returned, as a bearer token. Anything else is 404 `no_blob`, like a blob that does not exist.
  app.get('/v1/web/blobs/:blobId', { schema: { hide: true }, exposeHeadRoute: false }, async (request, reply) => {
    const take = await takeToken(ctx.db, `web-blob:${request.ip}`, WEB_BLOBS_PER_MINUTE, WEB_BLOBS_PER_MINUTE / 60);
    if (!take.allowed) throw new RateLimitedError('too many attachment requests; retry later', take.retryAfterMs);
    const { blobId } = request.params as { blobId?: unknown };
    const grantee = await capabilityGrantee(ctx.db, request.headers.authorization);
    if (typeof blobId !== 'string' || !BLOB_ID.test(blobId) || !grantee) throw new NotFoundError('no_blob', 'no such blob');
    return sendDownload(reply, () => ctx.blobs.downloadGranted(grantee, blobId, request.headers.range), ctx.log, blobId);
  });

  r.post(
    '/v1/web/describe',
    {
      schema: {
        tags: ['routing'],
        operationId: 'describeWebLink',
        summary: 'What the retrieval page may show before any check',
        body: WebDescribeRequestSchema,
        response: { 200: WebDescribeResponseSchema, ...errors },
      },
    },
    async (request) => retrieval.describe(request.body.token),
  );
  r.post(
    '/v1/web/challenge',
    {
      schema: {
        tags: ['routing'],
        operationId: 'requestWebCode',
        summary: "Send a one-time code to the business's second factor for this link's recipient",
        body: WebChallengeRequestSchema,
        response: { 200: WebChallengeResponseSchema, ...errors },
      },
    },
    async (request) => retrieval.challenge(request.body.token),
  );
  r.post(
    '/v1/web/open',
    {
      schema: {
        tags: ['routing'],
        operationId: 'openWebMessage',
        summary:
          'With the code and explicit consent: the ciphertext, once (decrypted in the browser with the fragment key); with attachments, their sealed manifest and a short-lived capability for GET /v1/web/blobs/:blobId',
        body: WebOpenRequestSchema,
        response: { 200: WebOpenResponseSchema, ...errors },
      },
    },
    async (request) => retrieval.open(request.body.token, request.body.code, request.body.consent),
  );

  // --- provider webhooks: raw bodies (their signatures cover the exact bytes) ---
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 256 * 1024 }, (_request, body, done) => done(null, body));
    scope.post('/v1/webhooks/:channel', { schema: { hide: true } }, async (request, reply) => {
      const name = (request.params as { channel: string }).channel;
      const channel = router.webhookChannel(name);
      if (!channel?.handleWebhook) throw new NotFoundError('unknown_channel', 'no webhook for this channel');
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(request.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
      const rawBody = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : new Uint8Array();
      const webhook = { url: `${router.publicUrl}${request.url}`, headers, rawBody };
      // RBM's webhook set-up handshake: echo the secret when the client token matches.
      const handshake = (channel as { webhookVerificationSecret?: (r: typeof webhook) => string | undefined }).webhookVerificationSecret?.(webhook);
      if (handshake !== undefined) return reply.status(200).header('content-type', 'text/plain').send(handshake);
      try {
        // The adapter emits these events to the router's subscription (the one path that
        // applies them); the provider gets 200 once they are stored, a 5xx makes it retry.
        const events = await channel.handleWebhook(webhook);
        await router.statusApplied(events);
        return reply.status(200).send({ received: events.length });
      } catch (error) {
        if (error instanceof ChannelError && error.reason === 'webhook_signature_invalid') {
          metrics.webhookSignatureFailures.inc({ channel: name });
          throw new ParleyError('webhook_signature_invalid', 'bad or missing webhook signature', { status: 401 });
        }
        if (isParleyError(error)) throw error;
        throw new ParleyError('webhook_invalid', 'the webhook body could not be processed', { status: 400 });
      }
    });
  });

  // Metrics: on a separate listener when one is configured (app.ts), else here behind a token.
  if (!ctx.config.metrics.listen) {
    app.get('/metrics', { schema: { hide: true }, onRequest: requireMetricsToken(ctx) }, async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(body);
    });
  }
}

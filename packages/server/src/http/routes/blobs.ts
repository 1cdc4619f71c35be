/**
 * `/v1/blobs`: attachment ciphertext (core wire/blobs.ts has the contract). Every route needs a
 * device session; an upload is its identity's alone (another identity gets 404 `no_blob` on
 * every route, as for a blob that does not exist), and a download is for the uploading
 * identity's devices and the devices a message granted the blob to (relay/blob-grants.ts).
 *
 * Only approved, active devices use blobs (a pending device — not yet approved by the identity's
 * other device — gets 403 `device_not_active`); a disabled business creates none.
 *
 * Upload pieces are raw bodies streamed into the store (never buffered whole): the content-type
 * parser of the PATCH route hands the request stream through, as tus servers do. Only the JSON
 * `POST` is in the OpenAPI document; the raw-body and byte routes are hidden, like backups'.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  BLOB_ID_PATTERN,
  BLOB_SHA256_HEADER,
  BLOB_UPLOAD_CONTENT_TYPE,
  CreateBlobRequestSchema,
  CreateBlobResponseSchema,
  ErrorBodySchema,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  toBase64Url,
} from '@parley/core';
import type { AuthDevice } from '../../auth-device.js';
import { sendDownload } from '../blob-reply.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';

const BLOB_ID = new RegExp(BLOB_ID_PATTERN);
const errors = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema, 413: ErrorBodySchema, 429: ErrorBodySchema };

/** The `:blobId` of a request; one that is no blob id names no blob. */
function blobIdOf(request: FastifyRequest): string {
  const { blobId } = request.params as { blobId?: unknown };
  if (typeof blobId !== 'string' || !BLOB_ID.test(blobId)) throw new NotFoundError('no_blob', 'no such blob');
  return blobId;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/** A non-negative decimal header (`Upload-Offset`, `Content-Length`), or undefined when absent. */
function byteCount(value: string | string[] | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = single(value);
  const n = text !== undefined && /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidInputError(`${name} is a number of bytes`, { code: 'invalid_blob' });
  return n;
}

/** The request's device, which must be active (approved, not revoked; status cached ≤ 5 s). */
async function activeDevice(ctx: RouteContext, request: FastifyRequest): Promise<AuthDevice> {
  const me = deviceOf(request);
  let status = await ctx.deviceStatus.get(me.deviceId);
  // Approved a moment ago (perhaps on another node): a cached `pending` is read again, never trusted.
  if (status === 'pending') {
    ctx.deviceStatus.forget(me.deviceId);
    status = await ctx.deviceStatus.get(me.deviceId);
  }
  if (status !== 'active') throw new ForbiddenError('device_not_active', 'only an approved, active device can use blobs');
  return me;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store');
}

export function registerBlobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const blobs = ctx.blobs;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.post(
    '/v1/blobs',
    {
      schema: {
        tags: ['blobs'],
        operationId: 'createBlob',
        summary: 'Start uploading an encrypted attachment of a given size (then PATCH its bytes, GET it by range)',
        body: CreateBlobRequestSchema,
        response: { 201: CreateBlobResponseSchema, ...errors },
      },
      onRequest: requireDevice(ctx),
    },
    async (request, reply) => {
      const me = await activeDevice(ctx, request);
      await ctx.businessStatus.assertActive(me.businessId);
      const blob = await blobs.uploads.create(me, request.body.size);
      return reply.status(201).send({ blobId: blob.id, size: blob.size, offset: blob.stored, expiresAt: blob.expiresAt.toISOString() });
    },
  );

  void app.register(async (scope) => {
    // Upload pieces: the request stream itself is the body (the store consumes it, bounded).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser([BLOB_UPLOAD_CONTENT_TYPE, 'application/octet-stream'], (_request, payload, done) => done(null, payload));
    scope.patch('/v1/blobs/:blobId', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
      const me = await activeDevice(ctx, request);
      const blobId = blobIdOf(request);
      const offset = byteCount(request.headers['upload-offset'], 'Upload-Offset');
      if (offset === undefined) throw new InvalidInputError('send the Upload-Offset header', { code: 'invalid_blob' });
      const contentLength = byteCount(request.headers['content-length'], 'Content-Length');
      const body = isAsyncIterable(request.body) ? request.body : undefined;
      const outcome = await blobs.uploads.append(me, blobId, offset, { body, contentLength });
      void noStore(reply).header('upload-offset', String(outcome.offset));
      if (outcome.sha256) void reply.header(BLOB_SHA256_HEADER, toBase64Url(outcome.sha256));
      return reply.status(204).send();
    });
  });

  app.head('/v1/blobs/:blobId', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
    const blob = await blobs.uploads.status(await activeDevice(ctx, request), blobIdOf(request));
    void noStore(reply).headers({ 'upload-offset': String(blob.stored), 'upload-length': String(blob.size) });
    if (blob.sha256) void reply.header(BLOB_SHA256_HEADER, toBase64Url(blob.sha256));
    return reply.status(200).send();
  });

  app.get('/v1/blobs/:blobId', { schema: { hide: true }, exposeHeadRoute: false, onRequest: requireDevice(ctx) }, async (request, reply) => {
    const me = await activeDevice(ctx, request);
    const blobId = blobIdOf(request);
    return sendDownload(reply, () => blobs.download(me, blobId, request.headers.range), ctx.log, blobId);
  });

  app.delete('/v1/blobs/:blobId', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
    await blobs.delete(await activeDevice(ctx, request), blobIdOf(request));
    return noStore(reply).status(204).send();
  });
}

/**
 * Transparency logs over HTTP, read-only:
 *
 * - the C2SP tlog-tiles layout under each log's prefix (`/logs/<name>/checkpoint`,
 *   `/logs/<name>/tile/<L>/<N>[.p/<W>]`, `/logs/<name>/tile/entries/<N>[.p/<W>]`), so any
 *   standard tlog client can verify the log without Parley code;
 * - `/logs/<name>/key-rotations`: the log's key-rotation announcements, signed notes
 *   concatenated oldest first (text/plain; empty when the key never changed);
 * - `GET /v1/logs`, the list of logs with their origins and verifier keys;
 * - two JSON helpers for Parley clients: consistency and inclusion proofs.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  ConsistencyQuerySchema,
  ErrorBodySchema,
  InclusionQuerySchema,
  InvalidInputError,
  LogListSchema,
  LogNameParamsSchema,
  NotFoundError,
  ProofResponseSchema,
} from '@parley/core';
import { TILE_WIDTH, parseTilePath } from '@parley/core/tlog';
import type { TransparencyLog } from '../../tlog/transparency-log.js';
import type { RouteContext } from '../context.js';

const gzipAsync = promisify(gzip);

/** Full tiles and full entry bundles never change (tlog-tiles: "immutable"). */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
/** Partial tiles are superseded as the tree grows. */
export const PARTIAL_CACHE = 'public, max-age=60';
/** tlog-tiles: the checkpoint's headers "SHOULD prevent caching beyond a few seconds". */
export const CHECKPOINT_CACHE = 'public, max-age=2, must-revalidate';

const errors = { 400: ErrorBodySchema, 404: ErrorBodySchema };

function decimal(text: string, field: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new InvalidInputError(`${field} is too large`, { code: 'tlog_invalid_input', details: { field } });
  return n;
}

/** True when an Accept-Encoding header lists gzip (or `*`) with a non-zero quality. */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((item) => {
    const [coding, ...params] = item.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function registerLogRoutes(app: FastifyInstance, ctx: RouteContext): void {
  // One engine, several logs.
  const logs = new Map<string, TransparencyLog>([
    [ctx.keyLog.name, ctx.keyLog],
    [ctx.auditLog.name, ctx.auditLog],
  ]);
  const logNamed = (name: string): TransparencyLog => {
    const log = logs.get(name);
    if (log === undefined) throw new NotFoundError('tlog_unknown_log', 'no such transparency log', { details: { log: name } });
    return log;
  };
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/v1/logs',
    { schema: { tags: ['transparency logs'], operationId: 'listLogs', summary: 'The transparency logs this server publishes, with their verifier keys', response: { 200: LogListSchema } } },
    async () => ({ logs: [...logs.values()].map((l) => ({ ...l.describe(), verifierKeys: [...l.describe().verifierKeys] })) }),
  );

  r.get(
    '/v1/logs/:name/consistency',
    {
      schema: {
        tags: ['transparency logs'],
        operationId: 'getConsistencyProof',
        summary: 'RFC 9162 consistency proof between two tree sizes',
        params: LogNameParamsSchema,
        querystring: ConsistencyQuerySchema,
        response: { 200: ProofResponseSchema, ...errors },
      },
    },
    async (request) => {
      const log = logNamed(request.params.name);
      const proof = await log.consistencyProof(decimal(request.query.from, 'from'), decimal(request.query.to, 'to'));
      return { proof: proof.map(b64) };
    },
  );

  r.get(
    '/v1/logs/:name/inclusion',
    {
      schema: {
        tags: ['transparency logs'],
        operationId: 'getInclusionProof',
        summary: 'RFC 9162 inclusion proof of a leaf in a tree size',
        params: LogNameParamsSchema,
        querystring: InclusionQuerySchema,
        response: { 200: ProofResponseSchema, ...errors },
      },
    },
    async (request) => {
      const log = logNamed(request.params.name);
      const proof = await log.inclusionProof(decimal(request.query.index, 'index'), decimal(request.query.size, 'size'));
      return { proof: proof.map(b64) };
    },
  );

  // --- C2SP tlog-tiles (static layout; described by the spec, not by OpenAPI) -----------

  r.get('/logs/:name/checkpoint', { schema: { hide: true, params: LogNameParamsSchema } }, async (request, reply) => {
    const log = logNamed(request.params.name);
    const { note } = await log.latestCheckpoint();
    return reply
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', CHECKPOINT_CACHE)
      .header('x-content-type-options', 'nosniff')
      .send(note);
  });

  // Log-key rotation announcements (docs/log-key-rotation.md): public, like the checkpoint.
  r.get('/logs/:name/key-rotations', { schema: { hide: true, params: LogNameParamsSchema } }, async (request, reply) => {
    const log = logNamed(request.params.name);
    const notes = await log.keyRotations();
    return reply
      .header('content-type', 'text/plain; charset=utf-8')
      .header('cache-control', CHECKPOINT_CACHE)
      .header('x-content-type-options', 'nosniff')
      .send(notes.join(''));
  });

  app.get('/logs/:name/tile/*', { schema: { hide: true } }, async (request: FastifyRequest, reply: FastifyReply) => {
    const params = request.params as { name?: unknown };
    const name = typeof params.name === 'string' ? params.name : '';
    const log = logNamed(name);
    // The raw path, not Fastify's percent-decoded parameter: one URL per resource, so that
    // caches never hold two copies (`%30%30%30` is not `000` here).
    const rawPath = request.url.split('?')[0]!;
    const base = `${log.prefix}/`;
    if (!rawPath.startsWith(base)) throw new InvalidInputError('not a canonical tlog-tiles path', { code: 'tlog_bad_tile_path' });
    const tile = parseTilePath(rawPath.slice(base.length)); // strict: canonical paths only (400 tlog_bad_tile_path)
    const cache = tile.width === TILE_WIDTH ? IMMUTABLE_CACHE : PARTIAL_CACHE;
    void reply.header('content-type', 'application/octet-stream').header('cache-control', cache);
    if (tile.kind === 'hashes') return reply.send(Buffer.from(await log.readTile(tile.level, tile.index, tile.width)));
    const bundle = await log.readEntryBundle(tile.index, tile.width);
    // tlog-tiles: entry bundles SHOULD be compressed at the HTTP layer.
    void reply.header('vary', 'accept-encoding');
    if (acceptsGzip(request.headers['accept-encoding'])) {
      return reply.header('content-encoding', 'gzip').send(await gzipAsync(bundle));
    }
    return reply.send(Buffer.from(bundle.buffer, bundle.byteOffset, bundle.byteLength));
  });
}

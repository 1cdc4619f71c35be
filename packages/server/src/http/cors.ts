/**
 * Cross-origin access: which web pages may use the API from a browser.
 *
 * - Requests without `Origin` (servers, the Node SDK, curl) are not concerned.
 * - An `Origin` in `config.allowedOrigins` gets CORS headers (`Access-Control-Allow-Origin:
 *   <that origin>`, `Vary: Origin`, the headers the SDK reads exposed). No credentials mode:
 *   the SDK authenticates with bearer tokens, never cookies.
 * - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed or the
 *   server's own origin: 204 with the methods and headers the API uses; from any other
 *   origin: 403 `origin_not_allowed`.
 * - Any other origin: no CORS headers (the browser withholds the answer), and a
 *   state-changing request (a "simple" POST a browser sends without preflight), or a
 *   WebSocket upgrade, is refused 403 `origin_not_allowed` before any handler runs.
 *
 * The server's own origin (its pages, e.g. the retrieval page) is the request's
 * `http://<Host>` (the server speaks plain HTTP; there is no proxy trust) and the origin of
 * `routing.publicUrl` (the public URL behind a TLS proxy).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ForbiddenError } from '@parley/core';
import { requestOrigin } from './origins.js';

/** Methods the API's routes use (HEAD: Fastify answers it for every GET). */
export const CORS_ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/**
 * Request headers the SDK sends that are not CORS-safelisted (plus `Idempotency-Key`, reserved for clients that send it):
 * the backup routes' `Parley-Backup-*` headers included (routes/backups.ts), and the blob routes'
 * `Upload-Offset` and `Range` (routes/blobs.ts: resumable uploads, ranged downloads).
 */
export const CORS_ALLOW_HEADERS = 'Authorization, Content-Type, Idempotency-Key, Parley-Backup-Access-Hash, Parley-Backup-Kdf, Parley-Backup-Key, Range, Upload-Offset';
/** Response headers the SDK reads that are not CORS-safelisted. */
export const CORS_EXPOSE_HEADERS = 'Retry-After, Upload-Offset, Upload-Length, Parley-Blob-Sha256, Content-Range, Accept-Ranges';
/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What to do with one request, by its `Origin` header. */
export type OriginVerdict =
  /** No `Origin` header: not a browser's cross-origin request. */
  | { readonly kind: 'none' }
  /** The server's own origin (its own pages). */
  | { readonly kind: 'own'; readonly origin: string }
  /** Listed in `allowedOrigins`. */
  | { readonly kind: 'allowed'; readonly origin: string }
  /** Anything else (`null`, unparseable, unlisted). */
  | { readonly kind: 'foreign' };

/**
 * Decides requests by their `Origin` header against a fixed list of allowed origins.
 *
 * @example
 * const policy = new OriginPolicy(['https://app.bank.example'], 'https://parley.bank.example');
 * policy.judge('https://app.bank.example', 'parley.bank.example') // { kind: 'allowed', origin: 'https://app.bank.example' }
 * policy.judge('https://evil.example', 'parley.bank.example') // { kind: 'foreign' }
 */
export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;
  readonly #publicOrigin: string | undefined;

  /** `allowed`: normalised origins (config.ts normalises them); `publicUrl`: the server's public URL, if any. */
  constructor(allowed: readonly string[], publicUrl?: string) {
    this.#allowed = new Set(allowed);
    this.#publicOrigin = publicUrl === undefined ? undefined : requestOrigin(publicUrl);
  }

  /** Judges an `Origin` header value; `host` is the request's `Host` header (its own origin). */
  judge(originHeader: string | undefined, host: string | undefined): OriginVerdict {
    if (originHeader === undefined) return { kind: 'none' };
    const origin = requestOrigin(originHeader);
    if (origin === undefined) return { kind: 'foreign' };
    if (this.#allowed.has(origin)) return { kind: 'allowed', origin };
    if (origin === this.#publicOrigin || (host !== undefined && origin === requestOrigin(`http://${host}`))) return { kind: 'own', origin };
    return { kind: 'foreign' };
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function refuse(what: string): ForbiddenError {
  return new ForbiddenError('origin_not_allowed', `${what} from this origin is not allowed (not in the server's allowed origins)`);
}

/** Answers a preflight; `verdict` is not `none`. */
function preflight(verdict: OriginVerdict, reply: FastifyReply): void {
  if (verdict.kind !== 'allowed' && verdict.kind !== 'own') throw refuse('a cross-origin request');
  void reply
    .status(204)
    .headers({
      'access-control-allow-origin': verdict.origin,
      'access-control-allow-methods': CORS_ALLOW_METHODS,
      'access-control-allow-headers': CORS_ALLOW_HEADERS,
      'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
      vary: 'Access-Control-Request-Method, Access-Control-Request-Headers',
    })
    .send();
}

/**
 * Installs the `Origin` check and CORS headers as an `onRequest` hook (before routing's
 * handlers, body parsing and authentication; WebSocket upgrades pass through it too).
 *
 * @example
 * installCors(app, new OriginPolicy(config.allowedOrigins, config.routing.publicUrl));
 */
export function installCors(app: FastifyInstance, policy: OriginPolicy): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const verdict = policy.judge(single(request.headers.origin), request.headers.host);
    if (verdict.kind === 'none') return;
    const upgrade = single(request.headers.upgrade)?.toLowerCase() === 'websocket';
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      preflight(verdict, reply);
      return reply;
    }
    if (verdict.kind === 'foreign') {
      if (upgrade) {
        // The socket left Node's HTTP server at 'upgrade': nothing else closes it (shutdown would wait on it).
        const socket = request.raw.socket;
        reply.raw.once('finish', () => socket.destroy());
        throw refuse('a WebSocket');
      }
      if (!SAFE_METHODS.has(request.method)) throw refuse('a state-changing request');
      return;
    }
    if (verdict.kind === 'allowed') {
      void reply.headers({
        'access-control-allow-origin': verdict.origin,
        'access-control-expose-headers': CORS_EXPOSE_HEADERS,
      });
    }
  });
  // The answer depends on Origin whenever a request carries one (caches must key on it);
  // merged at send time so a route's own `Vary` (e.g. Accept-Encoding) is kept.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.headers.origin !== undefined) void reply.header('vary', withVary(reply.getHeader('vary'), 'Origin'));
    return payload;
  });
}

/** Adds `field` to a `Vary` value unless it is already named (or `*`). */
function withVary(current: number | string | string[] | undefined, field: string): string {
  const fields = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((f) => f.trim())
    .filter((f) => f !== '');
  if (fields.some((f) => f === '*' || f.toLowerCase() === field.toLowerCase())) return fields.join(', ');
  return [...fields, field].join(', ');
}

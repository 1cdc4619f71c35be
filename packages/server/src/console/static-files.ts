/**
 * The console page: the built single-page app (`config.console.assetsDir`: index.html and its
 * assets) under `/console/`, streamed from disk with its content type and strict security
 * headers (own-origin scripts, styles and connections only, no framing, no referrer). Only
 * regular files inside the directory are served: no `..`, no dot-files, no link that leads
 * out of it. Without a built page, `/console/` answers 404 `console_not_built`.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NotFoundError } from '@parley/core';
import type { ConsoleRouteContext } from './context.js';

/** Headers of every console answer: the page's policy (own origin only) and no framing or referrer. */
export const CONSOLE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

/** Longest asset path accepted (characters after `/console/`). */
const MAX_PATH = 512;
/** One path segment of an asset: no dot-file, no `..`, nothing but plain characters. */
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

const notBuilt = () => new NotFoundError('console_not_built', 'the console page is not built: run npm run build (apps/console) and pass its directory');
const noFile = () => new NotFoundError('not_found', 'no such file');

/**
 * The file `relative` names inside `root`, or undefined: a path that is not plain segments, a
 * file that does not exist or is not a regular file, or a link that resolves outside `root`.
 *
 * @example
 * await resolveAsset('/srv/console', 'assets/app.js') // '/srv/console/assets/app.js'
 * await resolveAsset('/srv/console', '../package.json') // undefined
 */
export async function resolveAsset(root: string, relative: string): Promise<{ path: string; size: number } | undefined> {
  if (relative.length === 0 || relative.length > MAX_PATH) return undefined;
  const segments = relative.split('/');
  if (!segments.every((s) => SEGMENT.test(s))) return undefined;
  try {
    const realRoot = await realpath(root);
    const path = await realpath(join(realRoot, ...segments));
    if (!path.startsWith(realRoot + sep)) return undefined;
    const info = await stat(path);
    return info.isFile() ? { path, size: info.size } : undefined;
  } catch {
    return undefined;
  }
}

function sendFile(reply: FastifyReply, file: { path: string; size: number }, cacheControl: string): FastifyReply {
  return reply
    .headers({ ...CONSOLE_PAGE_HEADERS, 'content-type': CONTENT_TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream', 'content-length': String(file.size), 'cache-control': cacheControl })
    .send(createReadStream(file.path));
}

/**
 * Registers `/console`, `/console/` (index.html) and `/console/*` (assets) on the `/console`
 * scope. Paths under `/console/api/` that no API route takes are 404 `not_found`.
 *
 * @example
 * registerConsolePage(consoleScope, ctx);
 */
export function registerConsolePage(scope: FastifyInstance, ctx: ConsoleRouteContext): void {
  const dir = ctx.config.console.assetsDir;
  const root = dir === undefined ? undefined : resolve(dir);

  scope.get('/', async (_request, reply) => {
    const index = root === undefined ? undefined : await resolveAsset(root, 'index.html');
    if (!index) throw notBuilt();
    return sendFile(reply, index, 'no-cache');
  });

  scope.get('/*', async (request, reply) => {
    const relative = (request.params as { '*': string })['*'];
    if (relative === 'api' || relative.startsWith('api/')) throw new NotFoundError('not_found', 'no such endpoint');
    if (root === undefined) throw notBuilt();
    const file = await resolveAsset(root, relative);
    if (!file) throw noFile();
    return sendFile(reply, file, 'no-cache');
  });
}

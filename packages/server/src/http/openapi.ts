/**
 * The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), made for code generators:
 * - an `operationId` per operation (set in each route's `schema.operationId`);
 * - request and response bodies as named components (`#/components/schemas/<Name>`): named
 *   after their `@parley/core` export (`SubmitRequestSchema` → `SubmitRequest`), else after the
 *   operation (`<OperationId>Request` / `<OperationId>Response`); object schemas of core nested
 *   inside them are named components too;
 * - the `security` each operation accepts, derived from its onRequest hook (hooks say what they
 *   accept with {@link acceptsAuth}); a route that authenticates otherwise sets `schema.security`;
 * - every error answer as `ErrorBody`, whose `code` lists every code the server can answer.
 *
 * Only the document changes: validation and serialization keep the routes' own schemas.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance, FastifySchema, FastifyServerOptions, RouteOptions } from 'fastify';
import type { SwaggerOptions } from '@fastify/swagger';
import * as core from '@parley/core';
import * as coreAudit from '@parley/core/audit';
import { CORE_ERROR_CODES, ErrorBodySchema, LIMITS } from '@parley/core';
import { SERVER_ERROR_CODES } from '../error-codes.js';

/** A credential an operation accepts: one of the document's security schemes. */
export type AuthScheme = 'adminToken' | 'deviceSession' | 'metricsToken';

type JsonObject = { [key: string]: unknown };
type Security = Readonly<Record<string, readonly string[]>>[];

const SECURITY_SCHEMES: Record<AuthScheme, { type: 'http'; scheme: 'bearer'; description: string }> = {
  adminToken: { type: 'http', scheme: 'bearer', description: "The operator's admin token (configured on the server; the admin API is off without one)." },
  deviceSession: {
    type: 'http',
    scheme: 'bearer',
    description: "A device's session token: sign the challenge of `POST /v1/auth/challenge` and exchange it at `POST /v1/auth/session`.",
  },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'The metrics token (or the admin token) for `GET /metrics` (Prometheus text, not described here).' },
};

const DESCRIPTION = [
  'Zero-knowledge relay and key directory for verified end-to-end encrypted messaging (MLS, RFC 9420).',
  'The server sees ciphertext and metadata only: no plaintext message content and no private key is ever sent to it.',
  '',
  'Authentication: a device signs in with its identity key (`POST /v1/auth/challenge`, then `POST /v1/auth/session`) and sends',
  '`Authorization: Bearer <session token>`; operator calls send the admin token the same way. Each operation lists what it accepts.',
  '',
  'Errors: every 4xx and 5xx answer is an `ErrorBody` (`{ "error": { "code", "message" } }`); clients match on `code`, never on the',
  'message. A 5xx says nothing internal: it carries a `requestId` to quote to the operator. `429` and `503` carry `Retry-After`.',
  '',
  `Limits: a JSON request body is at most 4 MiB (413 \`payload_too_large\`); an MLS message at most ${LIMITS.messageBytes} bytes`,
  '(its base64 text at most the `maxLength` of `SubmitRequest.message`); byte fields are base64 (RFC 4648, standard or URL alphabet).',
  'The WebSocket (`GET /v1/ws`), the C2SP tlog-tiles resources (`/logs/<name>/…`) and provider webhooks are not described here.',
].join('\n');

/** What each error status means, for the responses' descriptions. */
const ERROR_DESCRIPTIONS: Readonly<Record<string, string>> = {
  '400': 'Bad input: the request does not match its schema (`invalid_request`, `invalid_json`, …) or a check of its content failed',
  '401': 'Missing or invalid credentials, or a signature that does not verify',
  '403': 'Authenticated, but not allowed to do this',
  '404': 'No such resource (or one the caller may not see: the same answer)',
  '409': 'Conflicts with the current state (a repeat, an epoch conflict, …)',
  '410': 'Gone (a used or expired link)',
  '413': 'Too large (`payload_too_large`)',
  '415': 'Not `application/json` (`unsupported_media_type`)',
  '429': 'Rate limited (`rate_limited`): retry after `Retry-After` seconds',
  '500': 'Internal error (`internal_error`, with a `requestId`)',
  '502': 'An upstream provider failed',
  '503': 'Unavailable (storage down or shutting down): retry after `Retry-After` seconds',
};

/** The errors any operation can answer, whether or not its route lists them. */
const ALWAYS = ['400', '500', '503'] as const;
/** …and those of any operation with a JSON body. */
const WITH_BODY = ['413', '415'] as const;

const accepted = new WeakMap<object, readonly AuthScheme[]>();

/**
 * Whether a path belongs to the operator console (`/console/…`: its page and its private
 * API, cookie sessions; console/): never part of the public API document.
 */
export function isConsolePath(url: string): boolean {
  return url === '/console' || url.startsWith('/console/');
}

/**
 * Marks an onRequest hook with the credentials it accepts (any one of them), so the OpenAPI
 * document lists them as the `security` of every route that uses the hook.
 *
 * @example
 * export function requireAdmin(ctx: RouteContext) {
 *   return acceptsAuth(async (request: FastifyRequest) => { … }, ['adminToken']);
 * }
 */
export function acceptsAuth<H extends object>(hook: H, schemes: readonly AuthScheme[]): H {
  accepted.set(hook, schemes);
  return hook;
}

/**
 * The `security` of a route: what its onRequest hooks accept (none: `[]`, public), or
 * `undefined` when a hook does not say (the OpenAPI test lists such operations).
 */
function securityOf(route: RouteOptions): Security | undefined {
  const hooks: unknown[] = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
  const schemes = new Set<AuthScheme>();
  for (const hook of hooks) {
    const tagged = typeof hook === 'function' ? accepted.get(hook) : undefined;
    if (!tagged) return undefined;
    for (const scheme of tagged) schemes.add(scheme);
  }
  return [...schemes].map((scheme) => ({ [scheme]: [] }));
}

/** Every code the server can answer: the server's own and those of core it applies to input. */
export function errorCodes(): string[] {
  return [...new Set<string>([...SERVER_ERROR_CODES, ...Object.keys(CORE_ERROR_CODES)])];
}

function isSchemaObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `submitMessage` → `SubmitMessage`. */
function pascal(text: string): string {
  return text.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase()).replace(/^./, (c) => c.toUpperCase());
}

/** The schemas exported by `@parley/core` (and its audit entry) by object, named after the export. */
function coreSchemaNames(): Map<object, string> {
  const names = new Map<object, string>();
  for (const module of [core, coreAudit] as Record<string, unknown>[]) {
    for (const [exported, value] of Object.entries(module)) {
      const match = /^([A-Z][A-Za-z0-9]*)Schema$/.exec(exported);
      if (match && isSchemaObject(value) && !names.has(value)) names.set(value, match[1]!);
    }
  }
  return names;
}

/**
 * The named components: each schema object gets one name, and its copy in the document refers
 * to the named object schemas inside it instead of repeating them.
 */
class Components {
  readonly schemas: Record<string, JsonObject> = {};
  private readonly names = new Map<object, string>();

  constructor(private readonly known: ReadonlyMap<object, string>) {}

  /** The reference to `schema`'s component (named `fallback` unless core names it), added once. */
  ref(schema: object, fallback: string): { $ref: string } {
    return { $ref: `#/components/schemas/${this.add(schema, fallback)}` };
  }

  /** The reference to a schema named before, if it was. */
  refOf(schema: unknown): { $ref: string } | undefined {
    const name = isSchemaObject(schema) ? this.names.get(schema) : undefined;
    return name === undefined ? undefined : { $ref: `#/components/schemas/${name}` };
  }

  private add(schema: object, fallback: string): string {
    const existing = this.names.get(schema);
    if (existing !== undefined) return existing;
    const base = this.known.get(schema) ?? fallback;
    let name = base;
    for (let i = 2; Object.hasOwn(this.schemas, name); i++) name = `${base}${i}`;
    this.names.set(schema, name);
    this.schemas[name] = {}; // reserved before the copy: a schema that contains itself refers to itself
    this.schemas[name] = this.copy(schema, true) as JsonObject;
    return name;
  }

  /** A plain copy (own enumerable keys, no `$id`) with the named object schemas of core as references. */
  private copy(value: unknown, root = false): unknown {
    if (Array.isArray(value)) return value.map((item) => this.copy(item));
    if (!isSchemaObject(value)) return value;
    const name = root ? undefined : this.known.get(value);
    if (name !== undefined && value['type'] === 'object') return this.ref(value, name);
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) if (key !== '$id') out[key] = this.copy(item);
    return out;
  }
}

/** `ErrorBody` with its `code` listing every code the server can answer (and `http_4xx` for framework refusals). */
function errorBodyComponent(): JsonObject {
  const error = ErrorBodySchema.properties.error;
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: [...(error.required ?? [])],
        properties: {
          code: {
            type: 'string',
            description: 'stable machine-readable code: one of the server codes, or `http_<status>` for a 4xx the HTTP framework raised without a code of its own',
            anyOf: [{ enum: errorCodes() }, { pattern: '^http_4[0-9]{2}$' }],
          },
          message: { type: 'string', description: 'human-readable; may change, never matched on' },
          details: { type: 'object', additionalProperties: {}, description: 'facts about a 4xx (never on a 5xx)' },
          requestId: { type: 'string', description: 'on 5xx answers: the id under which the server logged the failure (quote it to the operator)' },
        },
      },
    },
  };
}

interface RouteSchema extends FastifySchema {
  hide?: boolean;
  operationId?: string;
  response?: Record<string, unknown>;
}

/** A route as registered (HEAD twins of GET routes left out), for the OpenAPI test's completeness check. */
export interface RegisteredRoute {
  readonly method: string;
  /** The Fastify path, e.g. `/v1/devices/:deviceId`. */
  readonly url: string;
  /** `schema.hide` or a console path: not an API operation (pages, health, WebSocket, tlog tiles, webhooks, the console). */
  readonly hidden: boolean;
}

const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/**
 * The routes registered on `app` since {@link installOpenApi}.
 *
 * @example
 * const missing = routesOf(server.http).filter((r) => !r.hidden && !described.has(`${r.method} ${r.url}`));
 */
export function routesOf(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

export interface OpenApiOptions {
  /** The server's public base URL (read when the document is first served, after listen). */
  publicUrl(): string | undefined;
}

/**
 * Serves the document at `GET /openapi.json`. Call it before any route is registered: the
 * component names are given as routes are added, and the routes are recorded as they are.
 *
 * The document itself is made by @fastify/swagger on the first request (then kept): it and
 * its YAML writer (~100 modules) are not loaded at start (issue 18). It is made from the
 * recorded routes in a scratch Fastify instance that only registers them (no compilation, no
 * listening), so it is the document @fastify/swagger would make on the server itself.
 *
 * @example
 * installOpenApi(app, { publicUrl: () => router.publicUrl });
 */
export function installOpenApi(app: FastifyInstance, options: OpenApiOptions): void {
  const components = new Components(coreSchemaNames());
  components.ref(ErrorBodySchema, 'ErrorBody');
  components.schemas['ErrorBody'] = errorBodyComponent();

  const routes: RegisteredRoute[] = [];
  const described: RouteOptions[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    const schema = route.schema as RouteSchema | undefined;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: route.url, hidden: schema?.hide === true || isConsolePath(route.url) });
    }
    // What @fastify/swagger describes: every route but HEAD twins (they carry no operationId),
    // hidden ones and the console's.
    if (route.method !== 'HEAD' && schema?.hide !== true && !isConsolePath(route.url)) described.push(route);
    if (!schema || schema.hide || isConsolePath(route.url)) return;
    const operation = pascal(schema.operationId ?? `${String(route.method)} ${route.url}`);
    if (isSchemaObject(schema.body)) components.ref(schema.body, `${operation}Request`);
    // Error answers are all ErrorBody (the one error mapper): only success bodies get names here.
    for (const [status, response] of Object.entries(schema.response ?? {})) {
      if (status.startsWith('2') && isSchemaObject(response)) components.ref(response, `${operation}Response`);
    }
  });

  const errorRef = (status: string) => ({ ...components.refOf(ErrorBodySchema), description: ERROR_DESCRIPTIONS[status] ?? STATUS_CODES[Number(status)] ?? 'Error' });

  const swaggerOptions: SwaggerOptions = {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Parley API', version: '1.0.0', description: DESCRIPTION },
      components: { securitySchemes: SECURITY_SCHEMES, schemas: components.schemas },
    },
    transform: ({ schema, url, route }) => {
      const s = schema as RouteSchema | undefined;
      if (isConsolePath(url)) return { schema: { ...s, hide: true }, url };
      if (!s || s.hide) return { schema, url };
      const out: RouteSchema = { ...s };
      const security = s.security ?? securityOf(route);
      if (security) out.security = security;
      if (s.body !== undefined) out.body = components.refOf(s.body) ?? s.body;
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(s.response ?? {})) {
        const body = components.refOf(response) ?? (isSchemaObject(response) ? response : {});
        responses[status] = status.startsWith('2') ? { ...body, description: STATUS_CODES[Number(status)] ?? 'Success' } : errorRef(status);
      }
      for (const status of [...ALWAYS, ...(s.body !== undefined ? WITH_BODY : [])]) responses[status] ??= errorRef(status);
      out.response = responses;
      return { schema: out, url };
    },
    transformObject: (document) => {
      const doc = 'openapiObject' in document ? document.openapiObject : document.swaggerObject;
      const url = options.publicUrl();
      return url ? { ...doc, servers: [{ url, description: 'this server' }] } : doc;
    },
  };

  let document: Promise<unknown> | undefined;
  app.get('/openapi.json', { schema: { hide: true } }, async () => {
    document ??= swaggerDocument(swaggerOptions, described).catch((error: unknown) => {
      document = undefined;
      throw error;
    });
    return document;
  });
}

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/** Schema compilers that compile nothing (and load no compiler): the scratch instance never validates or serialises. */
const DESCRIBE_ONLY = {
  buildValidator: () => () => () => true,
  buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
} as unknown as CompilersFactory;

/** @fastify/swagger's document of `routes` (as the server registered them), made in a scratch instance. */
async function swaggerDocument(options: SwaggerOptions, routes: readonly RouteOptions[]): Promise<unknown> {
  const [{ default: Fastify }, { default: swagger }] = await Promise.all([import('fastify'), import('@fastify/swagger')]);
  const scratch = Fastify({ exposeHeadRoutes: false, schemaController: { compilersFactory: DESCRIBE_ONLY } });
  try {
    await scratch.register(swagger, options);
    await scratch.register(async (scope) => {
      for (const route of routes) {
        scope.route({
          method: route.method,
          url: route.url,
          ...(route.schema !== undefined ? { schema: route.schema } : {}),
          ...(route.config !== undefined ? { config: route.config } : {}),
          // securityOf reads what the route's onRequest hooks accept (they never run here).
          ...(route.onRequest !== undefined ? { onRequest: route.onRequest } : {}),
          handler: () => undefined,
        });
      }
    });
    await scratch.ready();
    return scratch.swagger();
  } finally {
    await scratch.close();
  }
}

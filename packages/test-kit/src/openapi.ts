/**
 * Checks of an OpenAPI document that tests share (the server's `/openapi.json`, the
 * gateway's): the document is valid OpenAPI (the JSON Schema of its version, by
 * @seriousme/openapi-schema-validator) and every local `$ref` resolves; its operations are
 * listed with what a code generator needs of them.
 */
import { Validator } from '@seriousme/openapi-schema-validator';

/** One operation of a document. */
export interface DescribedOperation {
  /** Upper case, e.g. `POST`. */
  readonly method: string;
  /** The OpenAPI path template, e.g. `/v1/devices/{deviceId}`. */
  readonly path: string;
  /** The same path as Fastify writes it, e.g. `/v1/devices/:deviceId`. */
  readonly route: string;
  /** `METHOD route`, e.g. `GET /v1/devices/:deviceId`. */
  readonly key: string;
  readonly operationId: string | undefined;
  /** `undefined` when the operation declares none (the document's default does not count). */
  readonly security: readonly Readonly<Record<string, readonly string[]>>[] | undefined;
  /** The operation object itself. */
  readonly operation: Readonly<Record<string, unknown>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value a local JSON pointer (`#/components/schemas/X`) names in `doc`, or undefined. */
export function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[token] : Array.isArray(node) ? node[Number(token)] : undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** Every `$ref` in `doc` with where it is (a JSON pointer). */
function refs(node: unknown, at = '#'): { at: string; ref: string }[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => refs(item, `${at}/${i}`));
  if (!isObject(node)) return [];
  const own = typeof node['$ref'] === 'string' ? [{ at, ref: node['$ref'] }] : [];
  return [...own, ...Object.entries(node).flatMap(([key, value]) => refs(value, `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`))];
}

/**
 * The problems of an OpenAPI document: what the validator reports against the schema of the
 * document's version, and every `$ref` that does not resolve inside the document. Valid: `[]`.
 *
 * @example
 * expect(await validateOpenApi(await (await fetch(`${url}/openapi.json`)).json())).toEqual([]);
 */
export async function validateOpenApi(doc: unknown): Promise<string[]> {
  if (!isObject(doc)) return ['the document is not a JSON object'];
  const result = await new Validator().validate(structuredClone(doc));
  const problems: string[] = [];
  if (!result.valid) {
    const errors = result.errors ?? 'invalid';
    problems.push(...(typeof errors === 'string' ? [errors] : errors.map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`)));
  }
  for (const { at, ref } of refs(doc)) {
    if (!ref.startsWith('#')) problems.push(`${at}: $ref ${ref} is not local`);
    else if (resolvePointer(doc, ref) === undefined) problems.push(`${at}: $ref ${ref} does not resolve`);
  }
  return problems;
}

/**
 * The operations of a document, in document order.
 *
 * @example
 * const ids = describedRoutes(doc).map((op) => op.operationId);
 */
export function describedRoutes(doc: unknown): DescribedOperation[] {
  const paths = isObject(doc) && isObject(doc['paths']) ? doc['paths'] : {};
  const out: DescribedOperation[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!isObject(operation)) continue;
      const route = path.replace(/\{([^}]+)\}/g, ':$1');
      out.push({
        method: method.toUpperCase(),
        path,
        route,
        key: `${method.toUpperCase()} ${route}`,
        operationId: typeof operation['operationId'] === 'string' ? operation['operationId'] : undefined,
        security: Array.isArray(operation['security']) ? (operation['security'] as DescribedOperation['security']) : undefined,
        operation,
      });
    }
  }
  return out;
}

/**
 * Route schemas compiled on first use (http/lazy-compilers.ts) behave exactly as Fastify's
 * own compilers at registration: bodies are validated with Ajv under the server's options (a
 * refusal names the failing property), responses are serialised by fast-json-stringify (fields
 * outside the schema never leave), and a schema that cannot compile is reported by
 * `compileAll`, not discovered by a customer.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { LazySchemas } from '../src/http/lazy-compilers.js';

function app(schemas: LazySchemas) {
  return Fastify({
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    schemaController: { compilersFactory: schemas.factory() },
  });
}

describe('lazily compiled route schemas', () => {
  it('validate bodies and serialise responses as Fastify does', async () => {
    const schemas = new LazySchemas();
    const server = app(schemas);
    server.post(
      '/echo',
      {
        schema: {
          body: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 5 }, count: { type: 'integer', default: 1 } }, additionalProperties: false },
          response: { 200: { type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } } } },
        },
      },
      // The extra field is outside the response schema: the serializer must drop it.
      async (request) => ({ ...(request.body as object), internal: 'never on the wire' }),
    );
    await server.ready();

    const ok = await server.inject({ method: 'POST', url: '/echo', payload: { name: 'ana' } });
    expect(ok.statusCode).toBe(200);
    // Ajv's `useDefaults` (Fastify's default) filled `count`; fast-json-stringify left out `internal`.
    expect(ok.body).toBe('{"name":"ana","count":1}');

    const missing = await server.inject({ method: 'POST', url: '/echo', payload: { count: 2 } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toBe("body must have required property 'name'");
    const extra = await server.inject({ method: 'POST', url: '/echo', payload: { name: 'ana', admin: true } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().message).toBe('body must NOT have additional properties');
    const long = await server.inject({ method: 'POST', url: '/echo', payload: { name: 'anastasia' } });
    expect(long.statusCode).toBe(400);
    expect(long.json().message).toBe('body/name must NOT have more than 5 characters');
    // A valid request after refused ones: the compiled function's state does not leak.
    expect((await server.inject({ method: 'POST', url: '/echo', payload: { name: 'bo', count: 3 } })).body).toBe('{"name":"bo","count":3}');
    await server.close();
  });

  it('compileAll reports a schema that does not compile, and compiles the rest', async () => {
    const schemas = new LazySchemas();
    const server = app(schemas);
    server.post('/broken', { schema: { body: { type: 'not-a-type' } } }, async () => ({}));
    server.post('/fine', { schema: { body: { type: 'object' } } }, async () => ({ ok: true }));
    // Registration no longer compiles: the server starts.
    await server.ready();
    const errors: unknown[] = [];
    await schemas.compileAll((error) => errors.push(error));
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/not-a-type|type/);
    expect((await server.inject({ method: 'POST', url: '/fine', payload: {} })).statusCode).toBe(200);
    // The broken route answers 500, as a validator that throws does in Fastify.
    expect((await server.inject({ method: 'POST', url: '/broken', payload: {} })).statusCode).toBe(500);
    await server.close();
  });
});

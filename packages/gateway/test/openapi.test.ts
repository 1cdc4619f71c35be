/**
 * The gateway's OpenAPI document is valid OpenAPI 3.1 (checked by a maintained validator),
 * describes every route with an operationId and the API-key security scheme, declares the
 * error responses, and describes the status webhooks it sends (OpenAPI 3.1 `webhooks`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describedRoutes, validateOpenApi } from '@parley/test-kit/openapi';
import { call, gatewayWorld, type GatewayWorld } from './fixtures.js';
import type { RunningGateway } from '../src/index.js';

let world: GatewayWorld;
let gateway: RunningGateway;
let doc: any;

beforeAll(async () => {
  world = await gatewayWorld();
  gateway = await world.start();
  doc = (await call(gateway, undefined, 'GET', '/openapi.json')).body;
});
afterAll(async () => {
  await world?.close();
});

describe('gateway OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(await validateOpenApi(doc)).toEqual([]);
  });

  it('describes every API route with an operationId, the API key scheme and its error responses', () => {
    const ops = describedRoutes(doc);
    expect(ops.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      ['GET /v1/events', 'GET /v1/messages/{id}', 'GET /v1/messages/{id}/evidence', 'POST /v1/enrollments', 'POST /v1/messages'].sort(),
    );
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const op of ops) {
      expect(op.operationId, op.key).toMatch(/^[a-z][A-Za-z]+$/);
      expect(op.security, op.key).toEqual([{ gatewayApiKey: [] }]);
      expect(Object.keys((op.operation as { responses: object }).responses), op.key).toEqual(expect.arrayContaining(['400', '401']));
    }
    expect(doc.components.securitySchemes.gatewayApiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The real body limit, not a generic one.
    const send = ops.find((o) => o.operationId === 'sendMessage')!.operation as { requestBody: { content: { 'application/json': { schema: unknown } } } };
    expect(JSON.stringify(send.requestBody.content['application/json'].schema)).toContain('"maxLength":65536');
  });

  it('describes the signed status webhooks', () => {
    expect(Object.keys(doc.webhooks).sort()).toEqual(['message.delivered', 'message.failed', 'message.fallback', 'message.queued', 'message.read', 'message.sent']);
    const post = doc.webhooks['message.delivered'].post;
    expect(post.parameters.map((p: { name: string }) => p.name)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(post.operationId).toBe('onMessageDelivered');
  });
});

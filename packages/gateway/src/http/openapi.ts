/**
 * The gateway's OpenAPI 3.1 document: the REST API (`gatewayApiKey` bearer scheme) and the
 * status webhooks it sends (OpenAPI 3.1 `webhooks`), signed per Standard Webhooks.
 */
import { WebhookEventSchema } from './schemas.js';

const SIGNED_HEADERS = {
  'webhook-id': { required: true, schema: { type: 'string' }, description: 'the event id (evt_…): deduplicate on it' },
  'webhook-timestamp': { required: true, schema: { type: 'string' }, description: 'Unix seconds; reject outside your replay window' },
  'webhook-signature': {
    required: true,
    schema: { type: 'string' },
    description: 'space-separated `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`, one per active secret',
  },
};

/** The `openapi` option of @fastify/swagger for the gateway. */
export function gatewayOpenApi(): Record<string, unknown> {
  const event = (summary: string) => ({
    post: {
      operationId: summary.replace(/^message\.(\w)/, (_m, c: string) => `onMessage${c.toUpperCase()}`),
      summary: `${summary}: a status change of a message`,
      parameters: Object.entries(SIGNED_HEADERS).map(([name, h]) => ({ name, in: 'header', ...h })),
      requestBody: { required: true, content: { 'application/json': { schema: WebhookEventSchema } } },
      responses: { '200': { description: 'received (any 2xx); anything else is retried with backoff for more than 24 h' } },
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Parley gateway API',
      version: '1.0.0',
      description:
        "The business's sending gateway: send end-to-end encrypted messages to customers with one call, follow them by signed status webhooks (Standard Webhooks) or the event feed, and fetch evidence for auditors.",
    },
    components: {
      securitySchemes: { gatewayApiKey: { type: 'http', scheme: 'bearer', description: 'an API key made with `parley gateway keys create` (pgw_…)' } },
    },
    webhooks: Object.fromEntries(
      ['message.queued', 'message.sent', 'message.delivered', 'message.read', 'message.fallback', 'message.failed'].map((t) => [t, event(t)]),
    ),
  };
}

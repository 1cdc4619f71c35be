/**
 * The spans of the relay's message path, one helper per span so that the relay, the HTTP
 * routes and the WebSocket gateway each add one call: `parley.submit` (a submission, root
 * or child of an incoming `traceparent`), `parley.store` (its durable write), `parley.deliver`
 * (envelopes handed to a device: live push, socket page or mailbox fetch) and `parley.ack`.
 * Deliver and ack come later in other requests: they link to the store span of each
 * envelope (in its submit trace; kept in memory, tracing-memory.ts) and carry the
 * envelopes' message pseudonyms.
 */
import type { Context } from '@opentelemetry/api';
import type { Envelope, SubmitResponse } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import { MAX_ARRAY_VALUE } from './span-allow-list.js';
import type { TraceSpan, Tracing } from './tracing.js';

/** How a request reached the server, or envelopes left it. */
export type TracePath = 'http' | 'ws';

/** Memory key of an envelope's submit span. */
export const envelopeKey = (envelopeId: string): string => `envelope:${envelopeId}`;

/** Bytes of a base64 payload (no decoding). */
function base64Bytes(b64: string): number {
  const padding = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - padding;
}

/**
 * `parley.submit` around one submission.
 *
 * @example
 * const result = await traceSubmit(tracing, { path: 'http', parent: tracing.incoming(request.headers), sender }, () => relay.submit(sender, body));
 */
export function traceSubmit(
  tracing: Tracing,
  options: { path: TracePath; parent: Context | undefined; sender: AuthDevice },
  submit: () => Promise<SubmitResponse>,
): Promise<SubmitResponse> {
  // Tracing off (the default): no attribute objects, no extra promise layers on the hot path.
  if (!tracing.enabled) return submit();
  return tracing.inSpan(
    'parley.submit',
    { parent: options.parent, attributes: { 'parley.path': options.path, ...(options.path === 'http' ? { 'http.request.method': 'POST', 'http.route': '/v1/messages' } : {}) } },
    async (span) => {
      span.pseudonym('parley.device.pseudonym', options.sender.deviceId);
      span.pseudonym('parley.business.pseudonym', options.sender.businessId);
      const result = await submit();
      span.pseudonym('parley.message.pseudonym', result.id);
      span.set({ 'parley.outcome': result.duplicate ? 'duplicate' : 'stored', 'parley.duplicate': result.duplicate, 'parley.recipients': result.recipients, 'parley.bytes': result.storedBytes });
      return result;
    },
  );
}

/**
 * `parley.store`: the durable write of one submission (child of the submit span it runs in);
 * remembers its context for the envelope's deliver and ack spans.
 *
 * @example
 * return traceStore(this.tracing, 'application', payload.length, () => this.appends.submit(sender, request, payload, info));
 */
export function traceStore(tracing: Tracing, kind: string, bytes: number, store: () => Promise<SubmitResponse>): Promise<SubmitResponse> {
  if (!tracing.enabled) return store();
  return tracing.inSpan('parley.store', { parent: 'active', attributes: { 'parley.message.kind': kind, 'parley.bytes': bytes } }, async (span) => {
    const result = await store();
    span.pseudonym('parley.message.pseudonym', result.id);
    span.set({ 'parley.outcome': result.duplicate ? 'duplicate' : 'stored', 'parley.recipients': result.recipients });
    // Deliver and ack spans link here (application messages are remembered before their live push: application-appends.ts).
    if (!result.duplicate) {
      tracing.remember(envelopeKey(result.id), span);
      if (result.welcomeId !== undefined) tracing.remember(envelopeKey(result.welcomeId), span);
    }
    return result;
  });
}

function setEnvelopes(tracing: Tracing, span: TraceSpan, ids: readonly string[]): void {
  if (ids.length === 1) span.pseudonym('parley.message.pseudonym', ids[0]!);
  span.set({ 'parley.message.pseudonyms': ids.slice(0, MAX_ARRAY_VALUE).map((id) => tracing.pseudonym('message', id)) });
}

/**
 * `parley.deliver`: envelopes handed to one device (`path`: push — live on its socket;
 * page — read from the mailbox into its socket; fetch — `GET /v1/mailbox`). Recorded
 * after the fact, from `startTime`; nothing for an empty page (or without tracing: a relay
 * stand-in of a unit test has none).
 *
 * @example
 * traceDeliver(tracing, 'push', deviceId, fresh, new Date());
 */
export function traceDeliver(tracing: Tracing | undefined, path: 'push' | 'page' | 'fetch', deviceId: string, envelopes: readonly Envelope[], startTime: Date): void {
  if (!tracing?.enabled || envelopes.length === 0) return;
  const ids = envelopes.map((e) => e.id);
  tracing.record('parley.deliver', { startTime, links: tracing.linksTo(ids.map((id) => ({ key: envelopeKey(id), messageId: id }))) }, (span) => {
    span.pseudonym('parley.device.pseudonym', deviceId);
    span.set({ 'parley.path': path, 'parley.envelopes': envelopes.length, 'parley.bytes': envelopes.reduce((n, e) => n + base64Bytes(e.payload), 0) });
    if (path === 'fetch') span.set({ 'http.request.method': 'GET', 'http.route': '/v1/mailbox' });
    setEnvelopes(tracing, span, ids);
  });
}

/**
 * `parley.ack` around one device's acknowledgement of envelopes.
 *
 * @example
 * return traceAck(tracing, 'http', deviceId, ids, () => acks.submit(deviceId, ids));
 */
export function traceAck<R extends { acked: number; unknown: readonly string[] }>(
  tracing: Tracing,
  path: TracePath,
  deviceId: string,
  ids: readonly string[],
  ack: () => Promise<R>,
): Promise<R> {
  if (!tracing.enabled) return ack();
  const links = tracing.linksTo(ids.map((id) => ({ key: envelopeKey(id), messageId: id })));
  return tracing.inSpan('parley.ack', { links, attributes: { 'parley.path': path, 'parley.envelopes': ids.length, ...(path === 'http' ? { 'http.request.method': 'POST', 'http.route': '/v1/mailbox/ack' } : {}) } }, async (span) => {
    span.pseudonym('parley.device.pseudonym', deviceId);
    setEnvelopes(tracing, span, ids);
    const result = await ack();
    span.set({ 'parley.acked': result.acked, 'parley.unknown': result.unknown.length, 'parley.outcome': 'acked' });
    return result;
  });
}

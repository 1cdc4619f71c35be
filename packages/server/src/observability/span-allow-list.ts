/**
 * The one list of what a Parley span may carry (docs/observability.md, "Traces"): span
 * names, attribute keys, event names. Everything is metadata; identifiers appear only as
 * pseudonyms (tracing-pseudonyms.ts). The {@link AllowListSpanProcessor} enforces this list
 * on every finished span before any exporter sees it, so a careless edit elsewhere (an
 * extra attribute, a recorded exception) is dropped instead of exported.
 */
// OpenTelemetry semantic conventions, stable HTTP attributes (the package's ATTR_HTTP_REQUEST_METHOD,
// ATTR_HTTP_ROUTE, ATTR_HTTP_RESPONSE_STATUS_CODE; not imported: ~15 modules on every start).
const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
const ATTR_HTTP_ROUTE = 'http.route';
const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';

/** The span names of the message path (a contract: dashboards and alerts name them). */
export const SPAN_NAMES = [
  'parley.submit',
  'parley.store',
  'parley.route',
  'parley.route.step',
  'parley.deliver',
  'parley.ack',
] as const;
export type SpanName = (typeof SPAN_NAMES)[number];

/** The one event name: a routing decision recorded while a step ran (route_events). */
export const EVENT_NAMES = ['parley.route.decision'] as const;
export type SpanEventName = (typeof EVENT_NAMES)[number];

/** Attribute keys whose value is a pseudonym (HMAC-SHA256 under the trace pseudonym key, 16 hex digits). */
export const PSEUDONYM_KEYS = ['parley.message.pseudonym', 'parley.device.pseudonym', 'parley.business.pseudonym'] as const;
export type PseudonymKey = (typeof PSEUDONYM_KEYS)[number];

/** Every attribute key a span, event or link may carry, with what its value is. */
export const ATTRIBUTE_KEYS = {
  [ATTR_HTTP_REQUEST_METHOD]: 'HTTP method of the submit / fetch / ack request',
  [ATTR_HTTP_ROUTE]: 'route template, e.g. /v1/messages',
  [ATTR_HTTP_RESPONSE_STATUS_CODE]: 'HTTP status answered',
  'parley.path': 'how the request came or the envelopes left: http, ws, push, fetch',
  'parley.message.kind': 'MLS content: application, proposal, commit',
  'parley.message.class': 'the routing policy class (bounded: unknown classes are `other`)',
  'parley.message.pseudonym': 'pseudonym of the relay message (envelope) id',
  'parley.message.pseudonyms': 'pseudonyms of the envelopes a deliver / ack span handled (at most 64)',
  'parley.device.pseudonym': 'pseudonym of the device id (sender on submit, recipient on deliver / ack)',
  'parley.business.pseudonym': 'pseudonym of the business id',
  'parley.route.mode': 'app or web',
  'parley.route.chain': 'the policy chain, e.g. app>push>sms-token',
  'parley.route.step': 'the step name: app, push, rcs, sms-token, otherwise (or the step that recorded a decision)',
  'parley.route.step_index': 'index of the step in the chain',
  'parley.channel': 'channel of the last decision: app, fcm, apns, rbm, sms',
  'parley.decision': 'the last decision: waiting, sent, skipped, failed, …',
  'parley.reason': 'reason code of the last decision (fixed strings of the code, normalised)',
  'parley.outcome': 'stored, duplicate, refused, waiting, skipped, acked, …',
  'parley.duplicate': 'the submission repeated an idempotency key',
  'parley.recipients': 'number of recipient devices',
  'parley.envelopes': 'number of envelopes handled',
  'parley.acked': 'number of envelopes acknowledged',
  'parley.unknown': 'number of ids no longer pending',
  'parley.bytes': 'size in bytes (ciphertext stored or handed out)',
  'parley.error.code': 'the stable error code of a refusal',
} as const;
export type AttributeKey = keyof typeof ATTRIBUTE_KEYS;

/** Resource attributes this service states (nothing of the host). */
export const RESOURCE_KEYS = ['service.instance.id', 'service.name'] as const;

const ATTRIBUTE_SET: ReadonlySet<string> = new Set(Object.keys(ATTRIBUTE_KEYS));
const SPAN_SET: ReadonlySet<string> = new Set(SPAN_NAMES);
const EVENT_SET: ReadonlySet<string> = new Set(EVENT_NAMES);

/** Longest string value kept (anything longer is not metadata: dropped). */
export const MAX_STRING_VALUE = 128;
/** Most entries of an array value kept. */
export const MAX_ARRAY_VALUE = 64;

/** Whether a span may carry this attribute key. */
export function isAllowedAttribute(key: string): boolean {
  return ATTRIBUTE_SET.has(key);
}

/** Whether this is a span name of the contract. */
export function isAllowedSpanName(name: string): boolean {
  return SPAN_SET.has(name);
}

/** Whether this is an event name of the contract. */
export function isAllowedEventName(name: string): boolean {
  return EVENT_SET.has(name);
}

/**
 * A routing reason as a code: the reasons are fixed strings of the code ("no push token");
 * this keeps letters, digits, `_` and `-`, lower case, at most 64 characters.
 *
 * @example
 * reasonCode('channel not configured') // 'channel_not_configured'
 */
export function reasonCode(reason: string | null): string {
  if (reason === null) return 'none';
  const code = reason
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64);
  return code.length > 0 ? code : 'none';
}

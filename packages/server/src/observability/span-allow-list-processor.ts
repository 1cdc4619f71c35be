/**
 * The enforcement of span-allow-list.ts: a span processor in front of every exporter that
 * hands on a sanitized copy of each finished span. It keeps only listed attribute keys
 * (on the span, its events and its links), scalar values or short arrays of them, strings
 * up to {@link MAX_STRING_VALUE} characters; a span name off the list becomes
 * `parley.unlisted`, an event off the list is dropped, and a status message is kept only
 * when it is an error code. Whatever a future edit sets, nothing else leaves the process.
 */
import type { Attributes, AttributeValue, Context, Link, SpanStatus } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { MAX_ARRAY_VALUE, MAX_STRING_VALUE, isAllowedAttribute, isAllowedEventName, isAllowedSpanName } from './span-allow-list.js';

const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

function allowedValue(value: AttributeValue | undefined): AttributeValue | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.length <= MAX_STRING_VALUE ? value : undefined;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (!Array.isArray(value) || value.length > MAX_ARRAY_VALUE) return undefined;
  const ok = (value as readonly unknown[]).every((v) => v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= MAX_STRING_VALUE));
  return ok ? value : undefined;
}

/**
 * Only listed keys with metadata-shaped values.
 *
 * @example
 * sanitizeAttributes({ 'parley.bytes': 120, text: 'hello' }) // { 'parley.bytes': 120 }
 */
export function sanitizeAttributes(attributes: Attributes | undefined): Attributes {
  const kept: Attributes = {};
  if (!attributes) return kept;
  for (const [key, value] of Object.entries(attributes)) {
    if (!isAllowedAttribute(key)) continue;
    const v = allowedValue(value);
    if (v !== undefined) kept[key] = v;
  }
  return kept;
}

function sanitizeStatus(status: SpanStatus): SpanStatus {
  return status.message !== undefined && ERROR_CODE.test(status.message) ? { code: status.code, message: status.message } : { code: status.code };
}

/**
 * A copy of a finished span with only what the allow-list permits.
 *
 * @example
 * exporter.export([sanitizeSpan(span)], done);
 */
export function sanitizeSpan(span: ReadableSpan): ReadableSpan {
  const context = span.spanContext();
  const events: TimedEvent[] = span.events
    .filter((e) => isAllowedEventName(e.name))
    .map((e) => ({ name: e.name, time: e.time, attributes: sanitizeAttributes(e.attributes), ...(e.droppedAttributesCount !== undefined ? { droppedAttributesCount: e.droppedAttributesCount } : {}) }));
  const links: Link[] = span.links.map((l) => ({ context: l.context, attributes: sanitizeAttributes(l.attributes) }));
  return {
    name: isAllowedSpanName(span.name) ? span.name : 'parley.unlisted',
    kind: span.kind,
    spanContext: () => context,
    ...(span.parentSpanContext ? { parentSpanContext: span.parentSpanContext } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: sanitizeStatus(span.status),
    attributes: sanitizeAttributes(span.attributes),
    links,
    events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount + (span.events.length - events.length),
    droppedLinksCount: span.droppedLinksCount,
  };
}

/**
 * Sits in front of the exporting processors (OTLP batch, the test file exporter).
 *
 * @example
 * const provider = new BasicTracerProvider({ spanProcessors: [new AllowListSpanProcessor([new BatchSpanProcessor(exporter)])] });
 */
export class AllowListSpanProcessor implements SpanProcessor {
  constructor(private readonly inner: readonly SpanProcessor[]) {}

  onStart(span: Span, parentContext: Context): void {
    for (const p of this.inner) p.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    const clean = sanitizeSpan(span);
    for (const p of this.inner) p.onEnd(clean);
  }

  async forceFlush(): Promise<void> {
    await Promise.all(this.inner.map((p) => p.forceFlush()));
  }

  async shutdown(): Promise<void> {
    await Promise.all(this.inner.map((p) => p.shutdown()));
  }
}

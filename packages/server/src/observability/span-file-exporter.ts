/**
 * Writes every finished span as one JSON line to a file (`tracing.fileExporterPath`).
 * Test servers turn it on when `PARLEY_TELEMETRY_DIR` is set, so that CI's privacy scan
 * reads every span the test run produced; production uses OTLP. It sits behind the
 * allow-list processor like any exporter.
 */
import { appendFileSync } from 'node:fs';
import type { HrTime } from '@opentelemetry/api';
import type { ExportResult, ExportResultCode } from '@opentelemetry/core';

// ExportResultCode's values (@opentelemetry/core, which loads with the tracing SDK only).
const SUCCESS = 0 as ExportResultCode.SUCCESS;
const FAILED = 1 as ExportResultCode.FAILED;
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** One line of the file. */
export interface SpanLine {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly status: { readonly code: number; readonly message?: string };
  readonly attributes: Record<string, unknown>;
  readonly events: readonly { readonly name: string; readonly attributes: Record<string, unknown> }[];
  readonly links: readonly { readonly traceId: string; readonly spanId: string; readonly attributes: Record<string, unknown> }[];
  readonly resource: Record<string, unknown>;
}

function nanos(time: HrTime): string {
  return (BigInt(time[0]) * 1_000_000_000n + BigInt(time[1])).toString();
}

/**
 * The JSON-lines form of a span.
 *
 * @example
 * const line = spanLine(span); // { traceId, spanId, name: 'parley.submit', attributes: { … }, … }
 */
export function spanLine(span: ReadableSpan): SpanLine {
  const context = span.spanContext();
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: nanos(span.startTime),
    endTimeUnixNano: nanos(span.endTime),
    status: span.status,
    attributes: { ...span.attributes },
    events: span.events.map((e) => ({ name: e.name, attributes: { ...e.attributes } })),
    links: span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: { ...l.attributes } })),
    resource: { ...span.resource.attributes },
  };
}

/**
 * @example
 * new SimpleSpanProcessor(new JsonLinesSpanExporter('/tmp/telemetry/spans-123-1.jsonl'))
 */
export class JsonLinesSpanExporter implements SpanExporter {
  private stopped = false;

  constructor(readonly path: string) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) return resultCallback({ code: FAILED });
    try {
      if (spans.length > 0) appendFileSync(this.path, spans.map((s) => `${JSON.stringify(spanLine(s))}\n`).join(''), { mode: 0o600 });
      resultCallback({ code: SUCCESS });
    } catch (error) {
      resultCallback({ code: FAILED, error: error instanceof Error ? error : new Error('write failed') });
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }

  async forceFlush(): Promise<void> {}
}

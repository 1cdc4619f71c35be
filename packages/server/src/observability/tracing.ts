/**
 * OpenTelemetry traces of the message path (docs/observability.md, "Traces"). Off unless
 * an OTLP endpoint (or, in test servers, a span file) is configured: then {@link Tracing.off}
 * runs every wrapped function directly with a span that does nothing, and no SDK object exists.
 *
 * On, one tracer provider per server (never the global one: several servers may share a
 * process) exports over OTLP/HTTP protobuf through a BatchSpanProcessor, behind the
 * allow-list processor (span-allow-list-processor.ts). Parents are explicit: a span's
 * parent is the root, an incoming W3C `traceparent`, a context kept in memory
 * (tracing-memory.ts), or (`parent: 'active'`) the span this code runs inside, tracked by
 * an AsyncLocalStorage of this instance.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  trace,
  type AttributeValue,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type TextMapPropagator,
  type Tracer,
} from '@opentelemetry/api';
import type * as OtelCore from '@opentelemetry/core';
import type * as OtelResources from '@opentelemetry/resources';
import type * as OtelSdk from '@opentelemetry/sdk-trace-base';
import type { BasicTracerProvider, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type * as OtelOtlp from '@opentelemetry/exporter-trace-otlp-proto';
import type * as OtelSemconv from '@opentelemetry/semantic-conventions';
import { AllowListSpanProcessor } from './span-allow-list-processor.js';
import type { AttributeKey, PseudonymKey, SpanEventName, SpanName } from './span-allow-list.js';
import { JsonLinesSpanExporter } from './span-file-exporter.js';
import { TraceMemory } from './tracing-memory.js';
import { TracePseudonyms, type PseudonymKind } from './tracing-pseudonyms.js';
import { lazyCommonJs } from '../util/lazy-commonjs.js';

/**
 * The SDK and the OTLP exporter (CommonJS packages, which `import` would load as such too),
 * loaded when tracing is on: with tracing off (the default) a start does not pay for them
 * (issue 18: ~150 ms of CPU and ~9 MB at every start).
 */
const OTEL = {
  core: lazyCommonJs<typeof OtelCore>('@opentelemetry/core'),
  semconv: lazyCommonJs<typeof OtelSemconv>('@opentelemetry/semantic-conventions'),
  resources: lazyCommonJs<typeof OtelResources>('@opentelemetry/resources'),
  sdk: lazyCommonJs<typeof OtelSdk>('@opentelemetry/sdk-trace-base'),
  otlp: lazyCommonJs<typeof OtelOtlp>('@opentelemetry/exporter-trace-otlp-proto'),
};
function tracingSdk(): { core: typeof OtelCore; semconv: typeof OtelSemconv; resources: typeof OtelResources; sdk: typeof OtelSdk; otlp: typeof OtelOtlp } {
  return { core: OTEL.core(), semconv: OTEL.semconv(), resources: OTEL.resources(), sdk: OTEL.sdk(), otlp: OTEL.otlp() };
}

/** The `tracing` part of the server configuration. */
export interface TracingConfig {
  /** OTLP/HTTP traces URL (e.g. `http://collector:4318/v1/traces`); unset: no OTLP export. */
  readonly otlpEndpoint: string | undefined;
  /** Also (or only) write every span as a JSON line to this file: test servers under `PARLEY_TELEMETRY_DIR`. */
  readonly fileExporterPath: string | undefined;
  /** `service.name` of the resource (default `parley-server`; `OTEL_SERVICE_NAME` in `parley serve`). */
  readonly serviceName: string;
}

/** Span attributes, keys from the allow-list only (the processor drops any other key anyway). */
export type TraceAttributes = Partial<Record<AttributeKey, AttributeValue>>;

/** A span being recorded, or nothing (tracing off). */
export interface TraceSpan {
  /** Adds metadata attributes. */
  set(attributes: TraceAttributes): void;
  /** Sets a pseudonym attribute from the raw identifier (the raw value never reaches the span). */
  pseudonym(key: PseudonymKey, raw: string): void;
  /** Marks the span failed with a stable error code. */
  fail(code: string): void;
  /** Adds an event (name and attributes from the allow-list). */
  event(name: SpanEventName, attributes: TraceAttributes): void;
  /** This span's context, to remember or link (undefined when tracing is off). */
  readonly spanContext: SpanContext | undefined;
}

/** Where a new span hangs: the root (default), a context, or the span this code runs inside. */
export interface TraceSpanOptions {
  readonly parent?: Context | 'active' | undefined;
  readonly links?: readonly Link[];
  readonly attributes?: TraceAttributes;
  readonly startTime?: Date;
  readonly kind?: SpanKind;
}

const NOOP_SPAN: TraceSpan = {
  set() {},
  pseudonym() {},
  fail() {},
  event() {},
  spanContext: undefined,
};

const KIND_OF: Record<PseudonymKey, PseudonymKind> = {
  'parley.message.pseudonym': 'message',
  'parley.device.pseudonym': 'device',
  'parley.business.pseudonym': 'business',
};

/** Longest wait for the last export at shutdown (an unreachable collector must not hold the stop). */
const SHUTDOWN_WAIT_MS = 5_000;

class RecordingSpan implements TraceSpan {
  constructor(
    readonly span: Span,
    private readonly pseudonyms: TracePseudonyms,
  ) {}

  get spanContext(): SpanContext {
    return this.span.spanContext();
  }

  set(attributes: TraceAttributes): void {
    for (const [key, value] of Object.entries(attributes)) if (value !== undefined) this.span.setAttribute(key, value);
  }

  pseudonym(key: PseudonymKey, raw: string): void {
    this.span.setAttribute(key, this.pseudonyms.of(KIND_OF[key], raw));
  }

  fail(code: string): void {
    this.span.setAttribute('parley.error.code', code);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  }

  event(name: SpanEventName, attributes: TraceAttributes): void {
    this.span.addEvent(name, attributes as Record<string, AttributeValue>);
  }
}

/** The stable code of an error for a span (ParleyError codes), else `internal`. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : 'internal';
}

/**
 * @example
 * const tracing = Tracing.create(config.tracing, secrets.derive('trace-pseudonym-key'), config.nodeId);
 * await tracing.inSpan('parley.submit', { parent: tracing.incoming(request.headers) }, async (span) => {
 *   span.pseudonym('parley.device.pseudonym', deviceId);
 *   return relay.submit(device, body);
 * });
 * await tracing.shutdown();
 */
export class Tracing {
  /** Tracing off: every call is a direct call, nothing is recorded. */
  static readonly off = new Tracing(undefined);

  private readonly active = new AsyncLocalStorage<Context>();
  private readonly memory = new TraceMemory();
  /** The step span of each route whose step is running (its routing decisions become events). */
  private readonly steps = new Map<string, TraceSpan>();

  private constructor(
    private readonly sdk: { provider: BasicTracerProvider; tracer: Tracer; pseudonyms: TracePseudonyms; propagator: TextMapPropagator } | undefined,
  ) {}

  /**
   * Tracing as configured: {@link Tracing.off} without an OTLP endpoint or span file.
   *
   * @example
   * const tracing = Tracing.create({ otlpEndpoint: 'http://127.0.0.1:4318/v1/traces', fileExporterPath: undefined, serviceName: 'parley-server' }, key, 'node-1');
   */
  static create(config: TracingConfig, pseudonymKey: Uint8Array, instanceId: string): Tracing {
    if (config.otlpEndpoint === undefined && config.fileExporterPath === undefined) return Tracing.off;
    const { core, semconv, resources, sdk, otlp } = tracingSdk();
    const exporting: SpanProcessor[] = [];
    if (config.otlpEndpoint !== undefined) {
      exporting.push(new sdk.BatchSpanProcessor(new otlp.OTLPTraceExporter({ url: config.otlpEndpoint, timeoutMillis: 10_000 }), { scheduledDelayMillis: 2_000 }));
    }
    if (config.fileExporterPath !== undefined) exporting.push(new sdk.SimpleSpanProcessor(new JsonLinesSpanExporter(config.fileExporterPath)));
    const provider = new sdk.BasicTracerProvider({
      resource: resources.resourceFromAttributes({ [semconv.ATTR_SERVICE_NAME]: config.serviceName, 'service.instance.id': instanceId }),
      spanProcessors: [new AllowListSpanProcessor(exporting)],
    });
    return new Tracing({ provider, tracer: provider.getTracer('@parley/server'), pseudonyms: new TracePseudonyms(pseudonymKey), propagator: new core.W3CTraceContextPropagator() });
  }

  /** Whether spans are recorded (a wrapped call costs one function call when not). */
  get enabled(): boolean {
    return this.sdk !== undefined;
  }

  /** The pseudonym of an identifier ('' when off). */
  pseudonym(kind: PseudonymKind, raw: string): string {
    return this.sdk ? this.sdk.pseudonyms.of(kind, raw) : '';
  }

  /** The context of an incoming W3C `traceparent` (and `tracestate`) header, if valid. */
  incoming(headers: Readonly<Record<string, string | string[] | undefined>>): Context | undefined {
    if (!this.sdk || headers['traceparent'] === undefined) return undefined;
    const extracted = this.sdk.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    return trace.getSpanContext(extracted) ? extracted : undefined;
  }

  /** The context of the span this code runs inside (to hand to work that runs elsewhere, e.g. a batch), if any. */
  current(): Context | undefined {
    return this.sdk ? this.active.getStore() : undefined;
  }

  /** A span context as a parent context (for `parent`), or undefined. */
  parentFrom(context: SpanContext | undefined): Context | undefined {
    return context ? trace.setSpanContext(ROOT_CONTEXT, context) : undefined;
  }

  /**
   * Runs `fn` inside a new span (ended when `fn` settles; a throw marks it failed with the
   * error's code and is rethrown). Off: `fn` runs with a span that does nothing.
   */
  async inSpan<T>(name: SpanName, options: TraceSpanOptions, fn: (span: TraceSpan) => Promise<T> | T): Promise<T> {
    if (!this.sdk) return fn(NOOP_SPAN);
    const parent = options.parent === 'active' ? (this.active.getStore() ?? ROOT_CONTEXT) : (options.parent ?? ROOT_CONTEXT);
    const span = this.start(name, options, parent);
    try {
      return await this.active.run(trace.setSpan(parent, span.span), () => fn(span));
    } catch (error) {
      span.fail(errorCode(error));
      throw error;
    } finally {
      span.span.end();
    }
  }

  /** Records a span that ends now (started at `options.startTime`): `fill` sets its attributes. */
  record(name: SpanName, options: TraceSpanOptions, fill: (span: TraceSpan) => void): void {
    if (!this.sdk) return;
    const parent = options.parent === 'active' ? (this.active.getStore() ?? ROOT_CONTEXT) : (options.parent ?? ROOT_CONTEXT);
    const span = this.start(name, options, parent);
    try {
      fill(span);
    } finally {
      span.span.end();
    }
  }

  private start(name: SpanName, options: TraceSpanOptions, parent: Context): RecordingSpan {
    const sdk = this.sdk!;
    const span = sdk.tracer.startSpan(
      name,
      {
        kind: options.kind ?? SpanKind.INTERNAL,
        ...(options.links ? { links: [...options.links] } : {}),
        ...(options.startTime ? { startTime: options.startTime } : {}),
      },
      parent,
    );
    const recording = new RecordingSpan(span, sdk.pseudonyms);
    if (options.attributes) recording.set(options.attributes);
    return recording;
  }

  /** Keeps a span's context in memory under `key` (for later spans in other requests). */
  remember(key: string, span: TraceSpan): void {
    if (this.sdk && span.spanContext) this.memory.remember(key, span.spanContext);
  }

  /** Keeps the span context of `context` (e.g. a batch item's store span) under `key`. */
  rememberContext(key: string, context: Context | undefined): void {
    const spanContext = this.sdk && context ? trace.getSpanContext(context) : undefined;
    if (spanContext) this.memory.remember(key, spanContext);
  }

  /** A remembered context, if this node still has it. */
  recall(key: string): SpanContext | undefined {
    return this.sdk ? this.memory.recall(key) : undefined;
  }

  /** Links to the remembered contexts of these keys, each with the message pseudonym (at most 128). */
  linksTo(entries: readonly { key: string; messageId: string }[]): Link[] {
    if (!this.sdk) return [];
    const links: Link[] = [];
    for (const { key, messageId } of entries.slice(0, 128)) {
      const context = this.memory.recall(key);
      if (context) links.push({ context, attributes: { 'parley.message.pseudonym': this.pseudonym('message', messageId) } });
    }
    return links;
  }

  /** Runs a route step inside `span`: its routing decisions ({@link decision}) become events of it. */
  async withStep<T>(messageId: string, span: TraceSpan, fn: () => Promise<T>): Promise<T> {
    if (!this.sdk) return fn();
    this.steps.set(messageId, span);
    try {
      return await fn();
    } finally {
      if (this.steps.get(messageId) === span) this.steps.delete(messageId);
    }
  }

  /** A routing decision about a message: an event of its running step span, if any (the last one also sets the span's attributes). */
  decision(messageId: string, attributes: TraceAttributes): void {
    const span = this.steps.get(messageId);
    if (!span) return;
    span.event('parley.route.decision', attributes);
    // The span keeps its own step name; the decision's channel, decision and reason become its latest.
    const { 'parley.route.step': _step, ...latest } = attributes;
    span.set(latest);
  }

  /** Exports what is queued (tests). */
  async flush(): Promise<void> {
    await this.sdk?.provider.forceFlush();
  }

  /** Exports what is queued and stops (server stop); bounded by {@link SHUTDOWN_WAIT_MS}. */
  async shutdown(): Promise<void> {
    if (!this.sdk) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.sdk.provider.shutdown().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SHUTDOWN_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}

/**
 * The OTLP trace schema, from the opentelemetry-proto `.proto` files shipped in this
 * package (`proto/`, v1.11.0+, Apache-2.0), read by protobufjs: the receiver decodes
 * exactly what a collector decodes. Also the plain form of a received span that tests read
 * (ids as lower-case hex, attribute values as JS values).
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';

/** A decoded attribute value (OTLP AnyValue): string, boolean, number, bytes as hex, array or key-value list. */
export type OtlpValue = string | boolean | number | null | readonly OtlpValue[] | { readonly [key: string]: OtlpValue };

/** One span as the receiver got it. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Undefined for a root span. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP SpanKind (1 internal, 2 server, 3 client, …). */
  readonly kind: number;
  readonly startTimeUnixNano: string;
  readonly endTimeUnixNano: string;
  readonly attributes: Readonly<Record<string, OtlpValue>>;
  readonly events: readonly { readonly name: string; readonly timeUnixNano: string; readonly attributes: Readonly<Record<string, OtlpValue>> }[];
  readonly links: readonly { readonly traceId: string; readonly spanId: string; readonly attributes: Readonly<Record<string, OtlpValue>> }[];
  /** OTLP StatusCode (0 unset, 1 ok, 2 error) and message. */
  readonly status: { readonly code: number; readonly message: string };
  readonly resource: Readonly<Record<string, OtlpValue>>;
  readonly scope: { readonly name: string; readonly version: string };
}

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

/** The protobufjs types the receiver needs, loaded once. */
export interface OtlpTypes {
  readonly request: protobuf.Type;
  readonly response: protobuf.Type;
  /** google.rpc.Status (the body of an OTLP/HTTP error answer: code, message). */
  readonly status: protobuf.Type;
}

let loaded: OtlpTypes | undefined;

/**
 * @example
 * const { request } = otlpTypes();
 * const message = request.decode(body);
 */
export function otlpTypes(): OtlpTypes {
  if (loaded) return loaded;
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { keepCase: false });
  // google/rpc/status.proto, fields 1 and 2 (details, field 3, is never sent by this receiver).
  const status = new protobuf.Type('Status').add(new protobuf.Field('code', 1, 'int32')).add(new protobuf.Field('message', 2, 'string'));
  new protobuf.Root().define('google.rpc').add(status);
  loaded = {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    status,
  };
  return loaded;
}

type Plain = Record<string, unknown>;

function hexOf(base64: unknown): string {
  return typeof base64 === 'string' ? Buffer.from(base64, 'base64').toString('hex') : '';
}

function valueOf(any: unknown): OtlpValue {
  const v = (any ?? {}) as Plain;
  if (typeof v['stringValue'] === 'string') return v['stringValue'];
  if (typeof v['boolValue'] === 'boolean') return v['boolValue'];
  if (v['intValue'] !== undefined) return Number(v['intValue']);
  if (typeof v['doubleValue'] === 'number') return v['doubleValue'];
  if (typeof v['bytesValue'] === 'string') return hexOf(v['bytesValue']);
  if (v['arrayValue'] !== undefined) return (((v['arrayValue'] as Plain)['values'] as unknown[]) ?? []).map(valueOf);
  if (v['kvlistValue'] !== undefined) return attributesOf((v['kvlistValue'] as Plain)['values']);
  return null;
}

function attributesOf(list: unknown): Record<string, OtlpValue> {
  const out: Record<string, OtlpValue> = {};
  for (const kv of (list as Plain[] | undefined) ?? []) out[String(kv['key'])] = valueOf(kv['value']);
  return out;
}

/**
 * The spans of a decoded ExportTraceServiceRequest (protobufjs message), in plain form.
 *
 * @example
 * const spans = spansOf(types.request, types.request.decode(body));
 */
export function spansOf(type: protobuf.Type, message: protobuf.Message): ReceivedSpan[] {
  const plain = type.toObject(message, { longs: String, enums: Number, bytes: String, defaults: false }) as Plain;
  const spans: ReceivedSpan[] = [];
  for (const rs of (plain['resourceSpans'] as Plain[] | undefined) ?? []) {
    const resource = attributesOf(((rs['resource'] as Plain | undefined) ?? {})['attributes']);
    for (const ss of (rs['scopeSpans'] as Plain[] | undefined) ?? []) {
      const scope = (ss['scope'] as Plain | undefined) ?? {};
      for (const s of (ss['spans'] as Plain[] | undefined) ?? []) {
        const parent = hexOf(s['parentSpanId']);
        const status = (s['status'] as Plain | undefined) ?? {};
        spans.push({
          traceId: hexOf(s['traceId']),
          spanId: hexOf(s['spanId']),
          parentSpanId: parent === '' ? undefined : parent,
          name: String(s['name'] ?? ''),
          kind: Number(s['kind'] ?? 0),
          startTimeUnixNano: String(s['startTimeUnixNano'] ?? '0'),
          endTimeUnixNano: String(s['endTimeUnixNano'] ?? '0'),
          attributes: attributesOf(s['attributes']),
          events: ((s['events'] as Plain[] | undefined) ?? []).map((e) => ({ name: String(e['name'] ?? ''), timeUnixNano: String(e['timeUnixNano'] ?? '0'), attributes: attributesOf(e['attributes']) })),
          links: ((s['links'] as Plain[] | undefined) ?? []).map((l) => ({ traceId: hexOf(l['traceId']), spanId: hexOf(l['spanId']), attributes: attributesOf(l['attributes']) })),
          status: { code: Number(status['code'] ?? 0), message: String(status['message'] ?? '') },
          resource,
          scope: { name: String(scope['name'] ?? ''), version: String(scope['version'] ?? '') },
        });
      }
    }
  }
  return spans;
}

const ID_FIELDS: Readonly<Record<string, number>> = { traceId: 32, spanId: 16, parentSpanId: 16 };

/**
 * OTLP/JSON → the protobufjs object form: OTLP/JSON writes trace and span ids as hex (not
 * base64, as the proto3 JSON mapping would); everything else is the standard mapping.
 * Throws on an id that is not hex of the right length.
 *
 * @example
 * const message = request.fromObject(jsonIdsToBase64(JSON.parse(text)));
 */
export function jsonIdsToBase64(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => jsonIdsToBase64(v, key));
  if (value !== null && typeof value === 'object') {
    const out: Plain = {};
    for (const [k, v] of Object.entries(value as Plain)) {
      const size = ID_FIELDS[k];
      if (size !== undefined && typeof v === 'string') {
        if (v !== '' && !new RegExp(`^[0-9a-fA-F]{${size}}$`).test(v)) throw new Error(`${k} is not ${size} hex digits`);
        out[k] = Buffer.from(v, 'hex').toString('base64');
      } else {
        out[k] = jsonIdsToBase64(v, k);
      }
    }
    return out;
  }
  return value;
}

/**
 * A loopback OTLP/HTTP trace receiver (OpenTelemetry Protocol 1.x, "OTLP/HTTP"), as a
 * collector's `otlp` receiver answers:
 *
 * - `POST /v1/traces` with `Content-Type: application/x-protobuf` (binary protobuf) or
 *   `application/json` (OTLP/JSON: hex trace and span ids), optionally
 *   `Content-Encoding: gzip`; the body is an ExportTraceServiceRequest, decoded with the
 *   opentelemetry-proto schema (otlp-schema.ts). Answer: 200 with an
 *   ExportTraceServiceResponse in the request's content type.
 * - 400 with a google.rpc.Status (code 3, INVALID_ARGUMENT) for a body that does not
 *   decode; 415 for another content type or encoding; 413 above `maxBodyBytes`; 405 for
 *   another method; 404 for another path.
 *
 * The spans received are kept (`spans`), and every byte clients sent is recorded
 * (`recorder`), as for the other emulators.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { readBody } from './common/body.js';
import { jsonIdsToBase64, otlpTypes, spansOf, type ReceivedSpan } from './otlp-schema.js';
import { ByteRecorder, RecordingFront } from './recorder.js';

/** How to start the receiver. */
export interface OtlpReceiverOptions {
  /** Largest request body (after decompression), default 16 MiB. */
  readonly maxBodyBytes?: number;
}

/** One export request as it arrived. */
export interface OtlpExportRecord {
  readonly contentType: string;
  readonly contentEncoding: string | undefined;
  /** HTTP status answered. */
  readonly status: number;
  readonly spans: number;
}

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

/**
 * The OTLP receiver.
 *
 * @example
 * const otlp = await startOtlpReceiver();
 * const server = await startServer({ tracing: { otlpEndpoint: otlp.tracesUrl } });
 * // … then, after the exporter flushed:
 * otlp.spans.filter((s) => s.name === 'parley.submit');
 * await otlp.close();
 */
export class OtlpReceiver extends EventEmitter<{ spans: [readonly ReceivedSpan[]] }> {
  readonly recorder = new ByteRecorder('otlp');
  /** Every span received, in arrival order. */
  readonly spans: ReceivedSpan[] = [];
  /** Every export request and its answer. */
  readonly exports: OtlpExportRecord[] = [];
  private readonly maxBodyBytes: number;
  private server!: Server;
  private front!: RecordingFront;

  private constructor(options: OtlpReceiverOptions) {
    super();
    this.maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  }

  /** Starts the receiver on a free loopback port. */
  static async start(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
    otlpTypes(); // the schema loads (and fails) at start, not at the first export
    const receiver = new OtlpReceiver(options);
    receiver.server = createServer((req, res) => void receiver.handle(req, res));
    receiver.front = await RecordingFront.listen(receiver.recorder, receiver.server);
    return receiver;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234` (what OTEL_EXPORTER_OTLP_ENDPOINT takes). */
  get url(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  /** The traces endpoint, `<url>/v1/traces` (what OTEL_EXPORTER_OTLP_TRACES_ENDPOINT takes). */
  get tracesUrl(): string {
    return `${this.url}/v1/traces`;
  }

  /** Resolves once a span matching `match` has arrived (or rejects after `timeoutMs`). */
  waitForSpan(match: (span: ReceivedSpan) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan> {
    const found = this.spans.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('spans', listener);
        reject(new Error(`no matching span within ${timeoutMs} ms (${this.spans.length} received)`));
      }, timeoutMs);
      const listener = (spans: readonly ReceivedSpan[]) => {
        const hit = spans.find(match);
        if (!hit) return;
        clearTimeout(timer);
        this.off('spans', listener);
        resolve(hit);
      };
      this.on('spans', listener);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.front.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/v1/traces') return this.plain(res, 404, 'not found');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return this.plain(res, 405, 'method not allowed');
    }
    const body = await readBody(req, this.maxBodyBytes);
    if (body === undefined) return;
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const encoding = req.headers['content-encoding']?.trim().toLowerCase();
    const record = (status: number, spans: number) => this.exports.push({ contentType, contentEncoding: encoding, status, spans });
    if (contentType !== PROTOBUF && contentType !== JSON_TYPE) {
      record(415, 0);
      return this.plain(res, 415, `unsupported content type '${contentType}'`);
    }
    if (encoding !== undefined && encoding !== 'identity' && encoding !== 'gzip') {
      record(415, 0);
      return this.plain(res, 415, `unsupported content encoding '${encoding}'`);
    }
    if (body.tooLarge) {
      record(413, 0);
      return this.plain(res, 413, 'request body too large');
    }
    const types = otlpTypes();
    let spans: ReceivedSpan[];
    try {
      const bytes = encoding === 'gzip' ? gunzipSync(body.bytes, { maxOutputLength: this.maxBodyBytes }) : body.bytes;
      const message =
        contentType === PROTOBUF ? types.request.decode(bytes) : types.request.fromObject(checkedJson(JSON.parse(bytes.toString('utf8')) as unknown));
      spans = spansOf(types.request, message);
    } catch (error) {
      record(400, 0);
      const message = `malformed ExportTraceServiceRequest: ${error instanceof Error ? error.message : 'undecodable'}`;
      return this.answer(res, 400, contentType, types.status, { code: 3, message });
    }
    this.spans.push(...spans);
    record(200, spans.length);
    this.answer(res, 200, contentType, types.response, {});
    if (spans.length > 0) this.emit('spans', spans);
  }

  /** A message of `type` in the request's content type (OTLP/HTTP: the response uses the request's encoding). */
  private answer(res: ServerResponse, status: number, contentType: string, type: ReturnType<typeof otlpTypes>['response'], value: Record<string, unknown>): void {
    const body = contentType === PROTOBUF ? Buffer.from(type.encode(type.fromObject(value)).finish()) : Buffer.from(JSON.stringify(value));
    res.writeHead(status, { 'content-type': contentType, 'content-length': body.length }).end(body);
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
  }
}

/**
 * An OTLP/JSON body in protobufjs object form, or a throw when it is not a JSON object or
 * an id is not hex (protobufjs' fromObject then throws on a field of the wrong shape; its
 * `verify` is not used: it refuses the decimal strings OTLP/JSON writes 64-bit times as).
 */
function checkedJson(json: unknown): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('the body is not a JSON object');
  return jsonIdsToBase64(json) as Record<string, unknown>;
}

/**
 * Starts an OTLP/HTTP trace receiver on loopback.
 *
 * @example
 * const otlp = await startOtlpReceiver();
 * console.log(otlp.tracesUrl); // http://127.0.0.1:41234/v1/traces
 */
export function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  return OtlpReceiver.start(options);
}

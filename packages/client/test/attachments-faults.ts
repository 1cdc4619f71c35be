/**
 * A `fetch` for the attachment tests that records every call and injects faults into blob
 * transfers, once each: an upload request whose connection is cut after some bytes of its body
 * reached the server, a download whose body is cut after some bytes, and bytes flipped in
 * blob bodies (a server serving tampered ciphertext).
 */

export interface CallRecord {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  status?: number;
  /** `Upload-Offset` of a PATCH or HEAD answer. */
  uploadOffset?: string | null;
  /** The server's offset a 409 answer to a PATCH names (`details.offset`). */
  conflictOffset?: number;
  /** Set when this call was cut by a fault. */
  cut?: boolean;
}

const BLOB_PATH = /^\/v1\/blobs\/[A-Za-z0-9_-]{22}$/;

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, key) => (out[key] = value));
  return out;
}

export class FaultyFetch {
  readonly calls: CallRecord[] = [];
  /** The next blob PATCH is cut once this many bytes of its body were sent. */
  cutUploadAfter: number | undefined;
  /** The next blob GET's body is cut after this many bytes. */
  cutDownloadAfter: number | undefined;
  /** Blob GET bodies carry this ciphertext byte (absolute offset) flipped, until unset. */
  flipAt: number | undefined;
  /** The next blob PATCH is answered with this status (an error body) without reaching the server. */
  failNextUpload: number | undefined;

  constructor(private readonly real: typeof fetch = globalThis.fetch.bind(globalThis)) {}

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const record: CallRecord = { method: init?.method ?? 'GET', path: url.pathname, headers: headersOf(init) };
    this.calls.push(record);
    const blob = BLOB_PATH.test(url.pathname);
    if (blob && record.method === 'PATCH' && this.cutUploadAfter !== undefined && init?.body instanceof Uint8Array) {
      const keep = init.body.subarray(0, Math.min(this.cutUploadAfter, init.body.length));
      this.cutUploadAfter = undefined;
      record.cut = true;
      return this.cutUpload(url, init, keep);
    }
    if (blob && record.method === 'PATCH' && this.failNextUpload !== undefined) {
      record.status = this.failNextUpload;
      this.failNextUpload = undefined;
      const body = JSON.stringify({ error: { code: 'unavailable', message: 'injected by the test' } });
      return new Response(body, { status: record.status, headers: { 'content-type': 'application/json' } });
    }
    const res = await this.real(url, init);
    record.status = res.status;
    record.uploadOffset = res.headers.get('upload-offset');
    if (blob && record.method === 'PATCH' && res.status === 409) {
      const body = (await res.clone().json()) as { error?: { details?: { offset?: number } } };
      record.conflictOffset = body.error?.details?.offset;
    }
    if (!blob || record.method !== 'GET' || !res.body || !res.ok) return res;
    const start = Number(/^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1] ?? 0);
    const cutAfter = this.cutDownloadAfter;
    this.cutDownloadAfter = undefined;
    if (cutAfter === undefined && this.flipAt === undefined) return res;
    if (cutAfter !== undefined) record.cut = true;
    return new Response(this.rewrite(res.body, start, cutAfter), { status: res.status, headers: res.headers });
  };

  /** Sends the first bytes of the body, then drops the connection mid-request. */
  private async cutUpload(url: URL, init: RequestInit, keep: Uint8Array): Promise<Response> {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(keep.slice());
      },
      async pull(controller) {
        // Let the server take in what was sent, then the connection breaks.
        await new Promise((resolve) => setTimeout(resolve, 300));
        controller.error(new Error('connection cut by the test'));
      },
    });
    const headers = headersOf(init);
    delete headers['content-length'];
    await this.real(url, { ...init, headers, body, duplex: 'half' } as RequestInit).then(
      (res) => res.body?.cancel(),
      () => undefined,
    );
    throw new TypeError('fetch failed (connection cut by the test)');
  }

  private rewrite(body: ReadableStream<Uint8Array>, start: number, cutAfter: number | undefined): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let position = start;
    let passed = 0;
    const flipAt = this.flipAt;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await reader.read();
        if (next.done) return controller.close();
        let piece = next.value.slice();
        if (flipAt !== undefined && flipAt >= position && flipAt < position + piece.length) piece[flipAt - position]! ^= 0x01;
        position += piece.length;
        if (cutAfter !== undefined && passed + piece.length >= cutAfter) {
          piece = piece.subarray(0, cutAfter - passed);
          if (piece.length > 0) controller.enqueue(piece);
          await reader.cancel().catch(() => undefined);
          return controller.error(new TypeError('terminated (connection cut by the test)'));
        }
        passed += piece.length;
        controller.enqueue(piece);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
  }
}

/** The plaintext of a generated file: `size` bytes in pieces, from a cheap deterministic pattern (never all in memory). */
export async function* generated(size: number, seed: number, piece = 256 * 1024): AsyncGenerator<Uint8Array> {
  let x = seed >>> 0 || 1;
  for (let at = 0; at < size; at += piece) {
    const n = Math.min(piece, size - at);
    const out = new Uint8Array(n);
    const words = new Uint32Array(out.buffer, 0, n >>> 2);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x;
    }
    for (let i = words.length * 4; i < n; i++) out[i] = i & 0xff;
    yield out;
  }
}

/** The same bytes as `generated`, compared piece by piece against `actual` (no copy of either file). */
export async function sameAsGenerated(actual: AsyncIterable<Uint8Array>, size: number, seed: number): Promise<{ equal: boolean; bytes: number }> {
  const expected = generated(size, seed)[Symbol.asyncIterator]();
  let pending: Uint8Array = new Uint8Array(0);
  let bytes = 0;
  let equal = true;
  for await (const piece of actual) {
    for (let at = 0; at < piece.length; ) {
      if (pending.length === 0) {
        const next = await expected.next();
        if (next.done) return { equal: false, bytes: bytes + piece.length - at };
        pending = next.value;
      }
      const n = Math.min(pending.length, piece.length - at);
      if (equal && !Buffer.from(piece.subarray(at, at + n)).equals(Buffer.from(pending.subarray(0, n)))) equal = false;
      pending = pending.subarray(n);
      at += n;
      bytes += n;
    }
  }
  return { equal: equal && bytes === size, bytes };
}

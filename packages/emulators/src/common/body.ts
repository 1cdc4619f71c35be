/**
 * The one request-body reader of the emulators (HTTP/1.1 requests and HTTP/2 streams
 * alike). It always reads to the end, so an emulator can answer an oversized body
 * with its provider's "too large" error instead of resetting the connection, but it
 * keeps at most `maxBytes` of it.
 */
import type { Readable } from 'node:stream';

/** A request body as the emulator received it. */
export interface ReceivedBody {
  /** The body, or its first chunks up to `maxBytes` when it was larger. */
  readonly bytes: Buffer;
  /** How many bytes the client sent. */
  readonly size: number;
  /** More than `maxBytes` were sent (`bytes` is then incomplete). */
  readonly tooLarge: boolean;
}

/**
 * Reads a request body to its end. Resolves undefined when the client went away first.
 *
 * @example
 * const body = await readBody(req, 64 * 1024);
 * if (body === undefined) return; // client gone
 * if (body.tooLarge) return reply(413);
 */
export function readBody(stream: Readable, maxBytes: number): Promise<ReceivedBody | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    stream.once('end', () => resolve({ bytes: Buffer.concat(chunks), size, tooLarge: size > maxBytes }));
    stream.once('error', () => resolve(undefined));
    stream.once('close', () => resolve(undefined)); // after 'end' this changes nothing
  });
}

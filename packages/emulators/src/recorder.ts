/**
 * Records every byte an emulator receives, at the TCP level (before any parsing), so
 * tests can prove that no plaintext ever reached a provider.
 *
 * An emulator listens on a private loopback port; `RecordingFront` is the public port
 * clients connect to: a TCP pass-through that copies every inbound byte to a
 * `ByteRecorder` (HTTP/1.1, HTTP/2 and SMPP alike, without depending on how Node's
 * parsers read sockets). When `PARLEY_EMULATOR_CAPTURE_DIR` is set (the test suite's
 * global setup sets it), the bytes are also appended to a file there, and the suite's
 * teardown scans every byte every emulator received across the whole run.
 */
import { appendFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

/**
 * The bytes one emulator received.
 *
 * @example
 * const recorder = new ByteRecorder('fcm');
 * expect(recorder.contains('PLAINTEXT')).toBe(false);
 */
export class ByteRecorder {
  private readonly chunks: Buffer[] = [];
  private readonly captureFile: string | undefined;

  constructor(readonly emulator: string) {
    const dir = process.env['PARLEY_EMULATOR_CAPTURE_DIR'];
    this.captureFile = dir ? join(dir, `${emulator}-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.bin`) : undefined;
  }

  push(chunk: Buffer): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.captureFile) appendFileSync(this.captureFile, chunk);
  }

  /** Everything received so far, concatenated. */
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Does the received byte stream contain this string (UTF-8) or byte sequence anywhere? */
  contains(marker: string | Uint8Array): boolean {
    return this.bytes().includes(typeof marker === 'string' ? Buffer.from(marker, 'utf8') : Buffer.from(marker));
  }

  get size(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

/** The public TCP port of an emulator: records inbound bytes, passes everything through. */
export class RecordingFront {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly recorder: ByteRecorder, targetPort: number) {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (chunk: Buffer) => recorder.push(chunk));
      client.pipe(upstream);
      upstream.pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    });
  }

  /** Starts a front on a free loopback port for the emulator listening on `targetPort`. */
  static async start(recorder: ByteRecorder, targetPort: number): Promise<RecordingFront> {
    const front = new RecordingFront(recorder, targetPort);
    await listenOnLoopback(front.server);
    return front;
  }

  /**
   * Puts the emulator's own `server` (HTTP/1.1, HTTP/2 or SMPP) on a private loopback port
   * and starts the front that clients connect to instead.
   *
   * @example
   * emulator.front = await RecordingFront.listen(emulator.recorder, createServer(handler));
   */
  static async listen(recorder: ByteRecorder, server: Server): Promise<RecordingFront> {
    await listenOnLoopback(server);
    return RecordingFront.start(recorder, (server.address() as AddressInfo).port);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Listens on a free loopback port; rejects if the server cannot. */
function listenOnLoopback(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

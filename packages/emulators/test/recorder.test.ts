/** The recording front passes bytes through both ways and records exactly what clients sent. */
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ByteRecorder, RecordingFront } from '../src/recorder.js';

describe('RecordingFront', () => {
  it('records every inbound byte and relays the answer', async () => {
    const echo = createServer((s) => s.on('data', (d: Buffer) => s.write(Buffer.concat([Buffer.from('echo:'), d]))));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const recorder = new ByteRecorder('test-echo');
    const front = await RecordingFront.start(recorder, (echo.address() as AddressInfo).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const c = connect(front.port, '127.0.0.1', () => c.write('hello emulator'));
      c.on('data', (d: Buffer) => {
        resolve(d.toString());
        c.destroy();
      });
      c.on('error', reject);
    });
    expect(answer).toBe('echo:hello emulator');
    expect(recorder.bytes().toString()).toBe('hello emulator');
    expect(recorder.contains('emulator')).toBe(true);
    expect(recorder.contains('echo:')).toBe(false); // only what clients sent
    await front.close();
    await new Promise<void>((r) => echo.close(() => r()));
  });
});

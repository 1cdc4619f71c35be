/**
 * Suite-wide privacy check of every provider emulator: each emulator appends every
 * byte it receives to a file in PARLEY_EMULATOR_CAPTURE_DIR (see
 * packages/emulators/src/recorder.ts). After the whole run, nothing any emulator
 * received may contain a plaintext marker that tests put in message content.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PLAINTEXT_MARKERS } from '@parley/test-kit/privacy-markers';

/** Markers tests place in message plaintext: one list, in test-kit (also read by scripts/privacy-scan.mjs). */
export { PLAINTEXT_MARKERS };

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'parley-emulator-capture-'));
  process.env['PARLEY_EMULATOR_CAPTURE_DIR'] = dir;
  return () => {
    const files = readdirSync(dir);
    let bytes = 0;
    const leaks: string[] = [];
    for (const file of files) {
      const data = readFileSync(join(dir, file));
      bytes += data.length;
      for (const marker of PLAINTEXT_MARKERS) if (data.includes(Buffer.from(marker))) leaks.push(`${file}: ${marker}`);
    }
    rmSync(dir, { recursive: true, force: true });
    if (leaks.length > 0) {
      throw new Error(`plaintext reached a provider emulator:\n${leaks.join('\n')}`);
    }
    process.stdout.write(`emulator capture: ${files.length} connections, ${bytes} bytes received by emulators, no plaintext marker\n`);
  };
}

/** A `parley serve` child process for the start-up tests: the port it listens on once `/readyz` answers 200. */
import type { ChildProcess } from 'node:child_process';

/**
 * Waits for the `listening on` line in `output()` (within 90 s), then polls `/readyz` every
 * 20 ms until it answers 200 (within 12 s); returns the port.
 */
export async function readyPort(process: ChildProcess, output: () => string): Promise<number> {
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 90 s: ${output()}`)), 90_000);
    process.stdout!.on('data', () => {
      const m = /parley listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    process.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before listening: ${output()}`));
    });
  });
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return port;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`/readyz did not answer 200 within 12 s: ${output()}`);
}

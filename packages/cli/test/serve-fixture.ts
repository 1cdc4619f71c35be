/** A `parley serve` child process in the start-up and signal tests: the port it listens on. */
import type { ChildProcess } from 'node:child_process';

/**
 * The port of the `parley listening on http://127.0.0.1:PORT` line in `output()` (all the
 * child's output so far), once its stdout has printed it; rejects when the child exits first or
 * after 90 s.
 */
export function listeningPort(child: ChildProcess, output: () => string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 90 s: ${output()}`)), 90_000);
    child.stdout!.on('data', () => {
      const m = /parley listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code ?? signal}) before listening: ${output()}`));
    });
  });
}

/** {@link listeningPort}, then polls `/readyz` every 20 ms until it answers 200 (within 12 s); returns the port. */
export async function readyPort(child: ChildProcess, output: () => string): Promise<number> {
  const port = await listeningPort(child, output);
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return port;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`/readyz did not answer 200 within 12 s: ${output()}`);
}

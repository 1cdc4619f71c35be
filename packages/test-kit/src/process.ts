/**
 * A child process that serves on a port it prints: `parley serve`, `parley gateway`. Resolves
 * once the line `listening on http://…` appears; keeps the last of its output for failures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { asJsonLines, openTelemetryCapture } from './telemetry.js';

/** A running child and the URL it printed. */
export interface ListeningProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Its last 50 kB of stdout and stderr. */
  output(): string;
  /** Sends `signal` (default SIGKILL) and waits for the exit; nothing when it already exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * With `PARLEY_TELEMETRY_DIR` set, the child's output goes to `logs-<child pid>-<n>.jsonl`
 * there too (telemetry.ts), whole lines only, for the privacy scan.
 */
function captureOutput(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const capture = openTelemetryCapture(child.pid);
  if (!capture) return;
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]!.on('data', (d: Buffer) => {
      const text = partial + d.toString();
      const end = text.lastIndexOf('\n');
      partial = text.slice(end + 1);
      if (end >= 0) capture.logLines(asJsonLines(stream, text.slice(0, end)));
    });
    child[stream]!.on('end', () => {
      if (partial.length > 0) capture.logLines(asJsonLines(stream, partial));
      partial = '';
    });
  }
}

/**
 * Spawns `process.execPath args…` and waits (up to `timeoutMs`) until it prints `listening on <url>`.
 *
 * @example
 * const node = await spawnListening([BIN, 'serve', '--port', '0'], { what: 'parley serve' })
 */
export async function spawnListening(args: readonly string[], o: { what: string; env?: Record<string, string>; timeoutMs?: number }): Promise<ListeningProcess> {
  const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  captureOutput(child);
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${o.what} did not start: ${out}`));
    }, o.timeoutMs ?? 60_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${o.what} exited ${code}: ${out}`));
    });
  });
  return { url, child, output: () => out, kill };
}

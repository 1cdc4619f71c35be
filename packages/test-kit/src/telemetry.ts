/**
 * Telemetry capture for the privacy scan (scripts/privacy-scan.mjs): with
 * `PARLEY_TELEMETRY_DIR` set, every server test-kit starts writes its log lines to
 * `logs-<pid>-<n>.jsonl` there and, when stopped, a last `/metrics` scrape to
 * `metrics-<pid>-<n>.txt` (`<pid>`: the process that ran the server; `<n>`: a counter in
 * this process). Spans go to `spans-*.jsonl` in the same directory (tracing helpers).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where telemetry goes, or undefined when capture is off. */
export function telemetryDir(): string | undefined {
  const dir = process.env['PARLEY_TELEMETRY_DIR'];
  return dir === undefined || dir === '' ? undefined : dir;
}

let counter = 0;

/** One server's capture files. */
export interface TelemetryCapture {
  /** The log file's path. */
  readonly logFile: string;
  /** Appends whole lines (no trailing newline) to the log file. */
  logLines(lines: readonly string[]): void;
  /** Writes the final metrics scrape. */
  metrics(text: string): void;
}

/**
 * The capture files of one server run by process `pid` (default this one), or undefined
 * when `PARLEY_TELEMETRY_DIR` is not set. Writes are synchronous: nothing is lost when a
 * test process exits without stopping its server.
 *
 * @example
 * const capture = openTelemetryCapture();
 * capture?.logLines(['{"level":"info","msg":"request"}']);
 */
export function openTelemetryCapture(pid: number = process.pid): TelemetryCapture | undefined {
  const dir = telemetryDir();
  if (dir === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  const n = ++counter;
  const logFile = join(dir, `logs-${pid}-${n}.jsonl`);
  writeFileSync(logFile, '', { flag: 'a' });
  return {
    logFile,
    logLines(lines) {
      if (lines.length > 0) appendFileSync(logFile, lines.map((l) => `${l}\n`).join(''));
    },
    metrics(text) {
      writeFileSync(join(dir, `metrics-${pid}-${n}.txt`), text);
    },
  };
}

/**
 * A child's output as JSON lines: a JSON line as it is, any other line (a CLI's plain
 * `listening on …` note) wrapped as `{"stream","text"}` so the file stays JSON lines.
 *
 * @example
 * asJsonLines('stdout', 'parley listening on http://127.0.0.1:1\n') // ['{"stream":"stdout","text":"parley listening on http://127.0.0.1:1"}']
 */
export function asJsonLines(stream: 'stdout' | 'stderr', text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => (line.startsWith('{') ? line : JSON.stringify({ stream, text: line })));
}

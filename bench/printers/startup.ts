/** Console report of the start-up section (bench/startup.ts). */
import type { StartupBenchResult, StartupFigure } from '../startup.js';
import { table } from './format.js';

/**
 * Medians per kind of start (first start on a fresh data directory, restart) against the targets.
 *
 * @example
 * printStartup(await runStartupBench({ onProgress: console.error }));
 */
export function printStartup(r: StartupBenchResult): void {
  const mark = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const row = (name: string, f: StartupFigure) => [name, String(f.listeningMs), `${f.readyMs} ${mark(f.meetsTarget.ready)}`, String(f.cpuMsAtReady), `${f.idleRssMB} ${mark(f.meetsTarget.idleRss)}`, String(f.peakMB), String(f.stopMs)];
  console.log(`\nStart-up of the embedded default (bench/startup.ts; median of ${r.first.runs}; targets: ready ≤ ${r.target.readyMs} ms, idle RSS ≤ ${r.target.idleRssMB} MB after ${r.idleMs / 1000} s)`);
  console.log(table(['start', 'listening ms', 'ready ms', 'CPU ms at ready', 'idle RSS MB', 'peak MB', 'stop ms'], [row('first start', r.first), row('restart', r.restart)]));
  if (r.quiet && r.quiet.busy >= 0.1) console.log(`(machine ${Math.round(r.quiet.busy * 100)}% busy before the runs: the times may be high)`);
}

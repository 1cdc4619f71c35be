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
  const settled = (f: StartupFigure) => (f.settledRssMB === undefined ? '-' : `${f.settledRssMB} ${mark(f.meetsTarget.settledRss === true)}`);
  const row = (name: string, f: StartupFigure) => [name, String(f.listeningMs), `${f.readyMs} ${mark(f.meetsTarget.ready)}`, String(f.cpuMsAtReady), `${f.idleRssMB} ${mark(f.meetsTarget.idleRss)}`, settled(f), String(f.peakMB), String(f.stopMs)];
  const after = r.settledMs > r.idleMs ? ` and ${r.settledMs / 1000} s` : '';
  console.log(`\nStart-up of the embedded default (bench/startup.ts; median of ${r.first.runs}; targets: ready ≤ ${r.target.readyMs} ms, idle RSS ≤ ${r.target.idleRssMB} MB, measured ${r.idleMs / 1000} s${after} after ready)`);
  const rows = [row('first start', r.first), row('restart', r.restart)];
  if (r.baseline) rows.push(row('baseline first', r.baseline.first), row('baseline restart', r.baseline.restart));
  console.log(table(['start', 'listening ms', 'ready ms', 'CPU ms at ready', `RSS MB at ${r.idleMs / 1000} s`, `RSS MB at ${r.settledMs / 1000} s`, 'peak MB', 'stop ms'], rows));
  if (r.baseline) {
    const line = (kind: 'first' | 'restart') => {
      const q = r.baseline!.ratios[kind];
      return `${kind}: ready ${q.readyMs}×, CPU at ready ${q.cpuMsAtReady}×, RSS at ${r.idleMs / 1000} s ${q.idleRssMB}×${q.settledRssMB === undefined ? '' : `, at ${r.settledMs / 1000} s ${q.settledRssMB}×`}`;
    };
    console.log(`paired with the baseline ${r.baseline.bin} (started alternately; this build ÷ baseline): ${line('first')}; ${line('restart')}`);
  }
  if (r.quiet && r.quiet.busy >= 0.1) console.log(`(machine ${Math.round(r.quiet.busy * 100)}% busy before the runs: the times may be high)`);
}

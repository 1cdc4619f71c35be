/** Console report of the MLS section's classic-vs-X-Wing part (bench/mls-suites.ts). */
import type { MlsSuitesBenchResult, SuiteComparisonRow } from '../mls-suites.js';
import { ms, num, ratio, table } from './format.js';

const value = (row: SuiteComparisonRow, n: number): string => (row.unit === 'ms' ? ms(n) : num(row.unit === '/s' ? Math.round(n) : n));

/**
 * The side-by-side table: each figure for the classic suite and X-Wing, and X-Wing ÷ classic.
 *
 * @example
 * printMlsSuites((await runMlsCryptoBench({ quick: true })).suites!);
 */
export function printMlsSuites(r: MlsSuitesBenchResult): void {
  if (r.comparison.length === 0) return;
  const [classic, xwing] = [r.suites.find((s) => s.label === 'classic'), r.suites.find((s) => s.label === 'X-Wing')];
  console.log(`\nMLS suites, ${r.provider} provider (bench/mls-suites.ts${r.quick ? ', quick' : ''}, ${r.seconds} s)`);
  console.log(`classic = ${classic?.suite ?? '?'}, X-Wing = ${xwing?.suite ?? '?'}`);
  console.log(
    table(
      ['figure', 'unit', 'classic', 'X-Wing', 'X-Wing/classic'],
      r.comparison.map((row) => [row.figure, row.unit, value(row, row.classic), value(row, row.xwing), ratio(row.ratio)]),
    ),
  );
  const commitSamples = Object.entries(r.samples.commits).map(([members, n]) => `${n} at ${members} members`).join(', ');
  console.log(`Rates: median of ${r.samples.runs} runs (${r.samples.keyPackagesPerRun} KeyPackages, ${r.samples.pairsPerRun} pairs each).`);
  console.log(`Commit times: nearest-rank p50/p99 over update commits (${commitSamples}): the creator's commitChanges (with its GroupInfo export), a member's processIncoming.`);
}

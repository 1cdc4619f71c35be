/**
 * The sections' own entry points (`npx tsx bench/<section>.ts [--quick] [--engine …]`),
 * which print their result as JSON. Light on purpose: load-generator children import
 * `isMain` through lib/child.ts.
 */
import { pathToFileURL } from 'node:url';
import type { Engine } from './engines.js';
import { PERCENTILE_DEFINITION } from './stats.js';

/**
 * True when the module at `moduleUrl` is the process's entry file (run alone, not imported).
 *
 * @example
 * if (isMain(import.meta.url)) void main();
 */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

/** A section's own command line: `[--quick] [--engine pglite|postgres|both] [--flag value]…`. */
export interface StandaloneArgs {
  /** The whole command line (after the script). */
  readonly argv: readonly string[];
  readonly quick: boolean;
  /** `--engine pglite` or `postgres`; anything else (or nothing): both. */
  readonly engines: Engine[];
  /** Whether a bare flag is present. */
  has(flag: string): boolean;
  /** The argument after `flag`, if the flag is present. */
  value(flag: string): string | undefined;
}

/**
 * Parses a section's own command line (lenient, as these entry points always were).
 *
 * @example
 * const a = standaloneArgs(['--quick', '--engine', 'pglite']); // a.engines: ['pglite']
 */
export function standaloneArgs(argv: readonly string[]): StandaloneArgs {
  const value = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const engine = value('--engine');
  return {
    argv,
    quick: argv.includes('--quick'),
    engines: engine === 'pglite' || engine === 'postgres' ? [engine] : ['pglite', 'postgres'],
    has: (flag) => argv.includes(flag),
    value,
  };
}

/**
 * A section's entry point: when `moduleUrl` is run alone, runs `run` with its command
 * line, progress on stderr, and prints the result as JSON (with the percentile definition
 * unless `percentile: false`); a failure is printed and sets exit code 1.
 *
 * @example
 * runStandalone(import.meta.url, (a, progress) => runTlogBench({ quick: a.quick, engines: a.engines, onProgress: progress }));
 */
export function runStandalone(moduleUrl: string, run: (args: StandaloneArgs, progress: (line: string) => void) => Promise<object>, o: { percentile?: boolean } = {}): void {
  if (!isMain(moduleUrl)) return;
  run(standaloneArgs(process.argv.slice(2)), (line) => process.stderr.write(`${line}\n`)).then(
    (result) => console.log(JSON.stringify(o.percentile === false ? result : { ...result, percentile: PERCENTILE_DEFINITION }, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

/**
 * How much of PGlite's WebAssembly V8 optimises (issue 18: start-up time and idle memory of the
 * embedded default).
 *
 * V8 compiles WebAssembly in two tiers ("dynamic tiering"): every function first with Liftoff,
 * its baseline compiler, and again with TurboFan, its optimising compiler, once the function
 * has used up a budget of executed code, `--wasm-tiering-budget` (V8's default 1,800,000 since
 * dynamic tiering shipped; src/flags/flag-definitions.h). The budget of each function is set
 * when the module is compiled.
 *
 * PGlite's boot runs a large part of PostgreSQL once (catalog caches, the migration check, the
 * first plans). With the default budget that made ~150 functions hot enough for TurboFan in a
 * start: ~2 s of compiler CPU on V8's background threads, racing the server's own start for the
 * machine's cores, and ~480 MB of compiler zone memory. Freed again, 20–50 MB of it stayed
 * resident in glibc's per-thread malloc arenas; an idle node is 14–25 MB smaller and ready
 * 0.64–0.83× as late with the raised budget (paired start-up runs). With a budget ~1,100× larger, two
 * functions are optimised during a start; under sustained load PostgreSQL's hot paths still reach
 * TurboFan (35 functions in a quick `npm run bench -- relay --engine pglite`), and the relay on
 * PGlite did not get slower (paired runs against the default budget: 1.15–1.3× faster).
 */
import { setFlagsFromString } from 'node:v8';

/** V8's default `--wasm-tiering-budget`. */
export const V8_DEFAULT_WASM_TIERING_BUDGET = 1_800_000;
/** The budget PGlite's module is compiled with (V8 keeps it in an int32). */
const PGLITE_WASM_TIERING_BUDGET = 2_000_000_000;

const TIERING_FLAG = /^--wasm[-_]tiering[-_]budget(?:=|$)/;

/**
 * Runs `compile` (which compiles and instantiates a WebAssembly module, e.g. `PGlite.create`)
 * with V8's tiering budget at {@link PGLITE_WASM_TIERING_BUDGET}, then sets V8's default again
 * for any module compiled later (V8's flags are per process: a module another thread compiles
 * meanwhile, or a second embedded database opening at the same moment, gets the budget that is
 * set when it is compiled; only speed depends on it). A budget the operator chose on Node's
 * command line (`node --wasm-tiering-budget=N …`) is left alone.
 *
 * @example
 * const db = await withPgliteTieringBudget(() => PGlite.create(dataDir));
 */
export async function withPgliteTieringBudget<T>(compile: () => Promise<T>): Promise<T> {
  if (process.execArgv.some((arg) => TIERING_FLAG.test(arg))) return compile();
  setFlagsFromString(`--wasm-tiering-budget=${PGLITE_WASM_TIERING_BUDGET}`);
  try {
    return await compile();
  } finally {
    setFlagsFromString(`--wasm-tiering-budget=${V8_DEFAULT_WASM_TIERING_BUDGET}`);
  }
}

/**
 * Start-up of the embedded default (issue 18), `npx tsx bench/startup.ts [--runs N] [--idle-ms MS] [--settled-ms MS] [--wait-quiet S] [--profile] [--bin PATH] [--baseline PATH]`:
 * the real built CLI (`node packages/cli/bin/parley.js serve`, which runs packages/cli/dist;
 * `npm run build` first) with no database configured but a fresh temporary data directory
 * (embedded PGlite), on a free port. Per start: spawn → first `listening on` line → first 200
 * from `GET /readyz` (polled every 20 ms), then, after `--idle-ms` (default 5 s) of idling, the
 * resident memory of the process and its descendants (VmRSS from /proc: PGlite's WebAssembly
 * runs in a worker thread of the server, which VmRSS covers) and the peak (VmHWM), and again
 * `--settled-ms` (default 15 s) after ready, once V8's memory reducer has run (it shrinks the
 * young generation that start-up grew after ~8 s without allocation; 0: not measured). Each run
 * starts on a fresh data directory (first start: the build's migrated PGlite template unpacked, keys generated) and then
 * once more on the same directory (restart); the figures are medians over `--runs` (default 3).
 *
 * Run alone it prints a table and writes bench/results/startup-<ISO date>.json (and latest.json).
 * `--profile` adds `--cpu-prof` to the first run's two starts (profiles next to the results);
 * `--bin` starts another build's bin/parley.js instead; `--baseline PATH` makes it a paired
 * before/after: each run starts the baseline build (another checkout's bin/parley.js) and then
 * this one, alternately, so both see the same machine; the baseline's medians and the ratios
 * (this ÷ baseline) are in the result.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sleep } from './lib/async.js';
import { isMain } from './lib/entry.js';
import { CLK_TCK, gitInfo, machineInfo, pidTicks, waitForQuiet } from './lib/machine.js';
import { PERCENTILE_DEFINITION, quantile } from './lib/stats.js';
import { printStartup } from './printers/startup.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(benchDir, '..');
const BIN = join(repoRoot, 'packages/cli/bin/parley.js');
const POLL_MS = 20;
const READY_TIMEOUT_MS = 120_000;
/** The targets of issue 18, on the 2-core machine. */
export const STARTUP_TARGET = { readyMs: 2_000, idleRssMB: 250 } as const;

/** Resident memory of the server process and its descendants (MB = 2^20 bytes here, as `ps`/`top` count). */
export interface MemoryFigure {
  /** VmRSS, summed over the process and its descendants (threads share the process's address space). */
  readonly rssMB: number;
  /** VmHWM: the process's peak resident memory since it started. */
  readonly peakMB: number;
  /** RssAnon / RssFile of the server process. */
  readonly anonMB: number;
  readonly fileMB: number;
  readonly threads: number;
  readonly processes: number;
}

/** One start of `parley serve`. */
export interface StartupSample {
  readonly kind: 'first' | 'restart';
  /** spawn → `listening on` on stdout. */
  readonly listeningMs: number;
  /** spawn → the first 200 from /readyz. */
  readonly readyMs: number;
  /** CPU time (user + system, all threads) the server had used when /readyz first answered 200: less sensitive to a busy machine than readyMs. */
  readonly cpuMsAtReady: number;
  /** /readyz answers before the 200 (503, refused connections). */
  readonly polls: number;
  /** `--idle-ms` after ready. */
  readonly idle: MemoryFigure;
  /** `--settled-ms` after ready (after V8's memory reducer); absent with `--settled-ms 0`. */
  readonly settled?: MemoryFigure;
  /** SIGTERM → exit. */
  readonly stopMs: number;
  readonly loadAverage: number[];
  /** With --profile: the V8 CPU profiles of this start (a glob: one file per thread). */
  readonly profile?: string;
}

/** The median (nearest rank) over the runs of one kind of start. */
export interface StartupFigure {
  readonly runs: number;
  readonly readyMs: number;
  readonly listeningMs: number;
  readonly cpuMsAtReady: number;
  readonly idleRssMB: number;
  /** Median resident memory `--settled-ms` after ready (undefined when not measured). */
  readonly settledRssMB: number | undefined;
  readonly peakMB: number;
  readonly stopMs: number;
  readonly meetsTarget: { readonly ready: boolean; readonly idleRss: boolean; readonly settledRss: boolean | undefined };
}

export interface StartupBenchResult {
  readonly command: string;
  readonly idleMs: number;
  readonly settledMs: number;
  readonly target: typeof STARTUP_TARGET;
  readonly first: StartupFigure;
  readonly restart: StartupFigure;
  readonly samples: StartupSample[];
  /** With `--baseline`: the other build, started alternately with this one, and this ÷ baseline. */
  readonly baseline?: {
    readonly bin: string;
    readonly first: StartupFigure;
    readonly restart: StartupFigure;
    readonly samples: StartupSample[];
    readonly ratios: { readonly [K in 'first' | 'restart']: { readonly readyMs: number; readonly cpuMsAtReady: number; readonly idleRssMB: number; readonly settledRssMB: number | undefined } };
  };
  /** `waitForQuiet` before the runs (undefined with --wait-quiet 0). */
  readonly quiet: { readonly waitedMs: number; readonly busy: number } | undefined;
  readonly notes: string[];
}

const MiB = 1024;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** A port nobody listens on right now (bound to 0 and released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no free port');
  return address.port;
}

/** The `key: N kB` fields of /proc/<pid>/status (empty when the process is gone). */
async function statusOf(pid: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    for (const line of (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n')) {
      const m = /^(\w+):\s+(\d+)/.exec(line);
      if (m) out.set(m[1]!, Number(m[2]));
    }
  } catch {
    /* gone */
  }
  return out;
}

/** The process's descendants (children of any of its threads, recursively). */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = await readdir(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const children = (await readFile(`/proc/${pid}/task/${tid}/children`, 'utf8')).trim();
      for (const c of children === '' ? [] : children.split(/\s+/).map(Number)) out.push(c, ...(await descendants(c)));
    } catch {
      /* thread ended */
    }
  }
  return out;
}

async function memoryOf(pid: number): Promise<MemoryFigure> {
  const main = await statusOf(pid);
  const others = await Promise.all((await descendants(pid)).map((p) => statusOf(p)));
  const rssKiB = [main, ...others].reduce((sum, s) => sum + (s.get('VmRSS') ?? 0), 0);
  return {
    rssMB: round1(rssKiB / MiB),
    peakMB: round1((main.get('VmHWM') ?? 0) / MiB),
    anonMB: round1((main.get('RssAnon') ?? 0) / MiB),
    fileMB: round1((main.get('RssFile') ?? 0) / MiB),
    threads: main.get('Threads') ?? 0,
    processes: 1 + others.length,
  };
}

/** The environment of the built CLI: no `parley-source` condition (`npm run bench` sets it), no database. */
function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PARLEY_ADMIN_TOKEN: 'startup-bench-admin-token-0123456789' };
  const options = (env['NODE_OPTIONS'] ?? '').replace(/(?:^|\s)(?:--conditions|-C)[=\s]parley-source(?=\s|$)/g, '').trim();
  if (options === '') delete env['NODE_OPTIONS'];
  else env['NODE_OPTIONS'] = options;
  for (const name of ['DATABASE_URL', 'PARLEY_NATS_URL', 'PARLEY_ROUTING_CONFIG', 'PARLEY_SIGNER', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) delete env[name];
  return env;
}

async function readyStatus(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Starts `parley serve` on `dataDir`, times it to ready, idles, measures memory, stops it. */
async function startOnce(kind: StartupSample['kind'], bin: string, dataDir: string, idleMs: number, settledMs: number, profileDir: string | undefined): Promise<StartupSample> {
  const port = await freePort();
  // Node's default profile names (CPU.<date>.<pid>.<thread>…): one file per thread, the PGlite worker's too.
  const execArgv = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...execArgv, bin, 'serve', '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn'], {
    cwd: repoRoot,
    env: cliEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let listeningMs: number | undefined;
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
    if (listeningMs === undefined && /listening on http/.test(out)) listeningMs = performance.now() - t0;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  try {
    const url = `http://127.0.0.1:${port}/readyz`;
    let polls = 0;
    let readyMs: number | undefined;
    let cpuTicks = 0;
    while (readyMs === undefined) {
      if (exitedEarly) throw new Error(`parley serve exited before ready: ${out}`);
      if (performance.now() - t0 > READY_TIMEOUT_MS) throw new Error(`parley serve not ready after ${READY_TIMEOUT_MS} ms: ${out}`);
      const tick = performance.now();
      if ((await readyStatus(url)) === 200) {
        readyMs = performance.now() - t0;
        cpuTicks = await pidTicks(child.pid!);
      }
      else {
        polls++;
        await sleep(Math.max(0, POLL_MS - (performance.now() - tick)));
      }
    }
    await sleep(idleMs);
    const idle = await memoryOf(child.pid!);
    let settled: MemoryFigure | undefined;
    if (settledMs > idleMs) {
      await sleep(settledMs - idleMs);
      settled = await memoryOf(child.pid!);
    }
    const t1 = performance.now();
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    const stopMs = performance.now() - t1;
    return {
      kind,
      listeningMs: Math.round(listeningMs ?? readyMs),
      readyMs: Math.round(readyMs),
      cpuMsAtReady: Math.round((cpuTicks * 1000) / CLK_TCK),
      polls,
      idle,
      ...(settled ? { settled } : {}),
      stopMs: Math.round(stopMs),
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      ...(profileDir ? { profile: `${profileDir}/CPU.*.${child.pid}.*.cpuprofile` } : {}),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

function figure(samples: readonly StartupSample[]): StartupFigure {
  const med = (f: (s: StartupSample) => number) => quantile(samples.map(f), 0.5);
  const readyMs = med((s) => s.readyMs);
  const idleRssMB = med((s) => s.idle.rssMB);
  const settled = samples.flatMap((s) => (s.settled ? [s.settled.rssMB] : []));
  const settledRssMB = settled.length === samples.length && settled.length > 0 ? quantile(settled, 0.5) : undefined;
  return {
    runs: samples.length,
    readyMs,
    listeningMs: med((s) => s.listeningMs),
    cpuMsAtReady: med((s) => s.cpuMsAtReady),
    idleRssMB,
    settledRssMB,
    peakMB: med((s) => s.idle.peakMB),
    stopMs: med((s) => s.stopMs),
    meetsTarget: {
      ready: readyMs <= STARTUP_TARGET.readyMs,
      idleRss: idleRssMB <= STARTUP_TARGET.idleRssMB,
      settledRss: settledRssMB === undefined ? undefined : settledRssMB <= STARTUP_TARGET.idleRssMB,
    },
  };
}

/**
 * `runs` × (first start on a fresh data directory, restart on it); medians per kind.
 *
 * @example
 * const r = await runStartupBench({ onProgress: console.error }); // r.restart.readyMs
 */
export async function runStartupBench(o: {
  runs?: number;
  idleMs?: number;
  /** The second memory sample, after V8's memory reducer (default 15 s after ready; 0: none). */
  settledMs?: number;
  waitQuietMs?: number;
  profileDir?: string;
  /** Another build's `bin/parley.js` (e.g. a baseline checkout's); default this repository's. */
  bin?: string;
  /** A baseline build's `bin/parley.js`, started alternately with `bin` (a paired before/after). */
  baseline?: string;
  onProgress: (line: string) => void;
}): Promise<StartupBenchResult> {
  const bin = o.bin ?? BIN;
  const runs = o.runs ?? 3;
  const idleMs = o.idleMs ?? 5_000;
  const settledMs = o.settledMs ?? 15_000;
  let quiet: StartupBenchResult['quiet'];
  if ((o.waitQuietMs ?? 30_000) > 0) {
    quiet = await waitForQuiet(o.waitQuietMs ?? 30_000, { log: o.onProgress });
    if (quiet.busy >= 0.1) o.onProgress(`startup: machine still ${Math.round(quiet.busy * 100)}% busy after ${Math.round(quiet.waitedMs / 1000)} s; running anyway`);
  }
  const samples: StartupSample[] = [];
  const baselineSamples: StartupSample[] = [];
  const builds = o.baseline === undefined ? [{ bin, into: samples, label: '' }] : [{ bin: o.baseline, into: baselineSamples, label: 'baseline ' }, { bin, into: samples, label: 'this build ' }];
  // Every run's directory is removed after the last run, not before the next one: deleting a
  // data directory (~1,200 files) just before a first start made the file system's journal
  // (with online discard) hold up that start's file creation — up to 1.7 s on this machine
  // kind — which no fresh install sees.
  const dirs: string[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      for (const build of builds) {
        const dir = await mkdtemp(join(tmpdir(), 'parley-bench-startup-'));
        dirs.push(dir);
        const dataDir = join(dir, 'data');
        for (const kind of ['first', 'restart'] as const) {
          const s = await startOnce(kind, build.bin, dataDir, idleMs, settledMs, i === 0 && build.bin === bin ? o.profileDir : undefined);
          const settled = s.settled ? `, settled RSS ${s.settled.rssMB} MB` : '';
          o.onProgress(`startup/${build.label}${kind} ${i + 1}/${runs}: listening ${s.listeningMs} ms, ready ${s.readyMs} ms (CPU ${s.cpuMsAtReady} ms), idle RSS ${s.idle.rssMB} MB${settled} (peak ${s.idle.peakMB} MB, ${s.idle.threads} threads), stop ${s.stopMs} ms`);
          build.into.push(s);
        }
      }
    }
  } finally {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
  const first = figure(samples.filter((s) => s.kind === 'first'));
  const restart = figure(samples.filter((s) => s.kind === 'restart'));
  let baseline: StartupBenchResult['baseline'];
  if (o.baseline !== undefined) {
    const base = { first: figure(baselineSamples.filter((s) => s.kind === 'first')), restart: figure(baselineSamples.filter((s) => s.kind === 'restart')) };
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    const ratios = (mine: StartupFigure, theirs: StartupFigure) => ({
      readyMs: ratio(mine.readyMs, theirs.readyMs),
      cpuMsAtReady: ratio(mine.cpuMsAtReady, theirs.cpuMsAtReady),
      idleRssMB: ratio(mine.idleRssMB, theirs.idleRssMB),
      settledRssMB: mine.settledRssMB === undefined || theirs.settledRssMB === undefined ? undefined : ratio(mine.settledRssMB, theirs.settledRssMB),
    });
    baseline = { bin: o.baseline, ...base, samples: baselineSamples, ratios: { first: ratios(first, base.first), restart: ratios(restart, base.restart) } };
  }
  return {
    command: `node ${bin} serve --data-dir <fresh temp dir>/data --port <free> --log-level warn (PARLEY_ADMIN_TOKEN set; built CLI: its dist)`,
    idleMs,
    settledMs,
    target: STARTUP_TARGET,
    first,
    restart,
    samples,
    ...(baseline ? { baseline } : {}),
    quiet,
    notes: [
      "first: a fresh data directory (unpacked from the build's initialised and migrated PGlite template, or initdb and every migration without one; key generation); restart: the same directory again",
      `readyMs: process spawn → first 200 from GET /readyz, polled every ${POLL_MS} ms; listeningMs: spawn → the "listening on" log line`,
      `idle RSS: VmRSS of the server and its descendants ${idleMs} ms after ready (PGlite runs in a worker thread, inside the same process); peak: VmHWM`,
      `settled RSS: the same ${settledMs} ms after ready, once V8's memory reducer has shrunk the young generation start-up grew (it runs after ~8 s without allocation)`,
      'cpuMsAtReady: user + system CPU of the server (all its threads) at that first 200, from /proc/<pid>/stat: the work the start did, whatever else runs on the machine',
      'medians are nearest-rank over the runs; MB here = 2^20 bytes',
      "the runs' data directories are removed after the last run (a deletion just before a first start slows its file creation)",
    ],
  };
}

async function standalone(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const number = (flag: string, fallback: number) => {
    const v = value(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`);
    return n;
  };
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/:/g, '-');
  const resultsDir = join(benchDir, 'results');
  await mkdir(resultsDir, { recursive: true });
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  const result = await runStartupBench({
    runs: Math.max(1, number('--runs', 3)),
    idleMs: number('--idle-ms', 5_000),
    settledMs: number('--settled-ms', 15_000),
    waitQuietMs: number('--wait-quiet', 30) * 1000,
    ...(argv.includes('--profile') ? { profileDir: resultsDir } : {}),
    ...(value('--bin') !== undefined ? { bin: value('--bin')! } : {}),
    ...(value('--baseline') !== undefined ? { baseline: value('--baseline')! } : {}),
    onProgress: progress,
  });
  printStartup(result);
  const report = {
    name: 'startup',
    quick: false,
    argv,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    git: gitInfo(repoRoot),
    percentile: PERCENTILE_DEFINITION,
    results: [{ name: 'startup', status: 'ok', result }],
  };
  const file = join(resultsDir, `startup-${stamp}.json`);
  const json = JSON.stringify(report, null, 2) + '\n';
  await writeFile(file, json);
  await writeFile(join(resultsDir, 'latest.json'), json);
  console.log(`\nresults: ${file} (and bench/results/latest.json)`);
}

if (isMain(import.meta.url)) {
  standalone().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

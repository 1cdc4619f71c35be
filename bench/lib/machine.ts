/**
 * The machine the benchmarks run on: its description for the JSON results, CPU and
 * memory read from Linux procfs (zeros elsewhere), and the wait for an idle machine
 * (the box may be shared: other people's builds must not land in a measurement).
 */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { sleep } from './async.js';

/** Kernel clock ticks per second (the unit of procfs CPU times). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** What a JSON result says about the machine it was measured on. */
export interface MachineInfo {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  totalMemBytes: number;
  totalMemGiB: number;
  freeMemGiB: number;
  loadAverage: number[];
}

/**
 * This machine, now.
 *
 * @example
 * const m = machineInfo(); // { node: 'v20…', cpus: 2, … }
 */
export function machineInfo(): MachineInfo {
  return {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemBytes: totalmem(),
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * The commit the benchmark ran at and whether `packages/` had uncommitted changes (undefined outside git).
 *
 * @example
 * const git = gitInfo(repoRoot);
 */
export function gitInfo(repoRoot: string): { commit: string; uncommittedChangesInPackages: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8' }).trim().length > 0;
    return { commit, uncommittedChangesInPackages: dirty };
  } catch {
    return undefined;
  }
}

/**
 * Busy ticks of the whole machine so far (user, nice, system, irq, softirq, steal; 0 without procfs).
 *
 * @example
 * const busyMs = ((await machineBusyTicks()) - before) * 1000 / CLK_TCK;
 */
export async function machineBusyTicks(): Promise<number> {
  try {
    const f = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  } catch {
    return 0;
  }
}

/** utime + stime of a `/proc/<pid>/stat` line. */
function statTicks(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/**
 * CPU ticks so far of one process (0 when it is gone).
 *
 * @example
 * const t = await pidTicks(child.pid!);
 */
export async function pidTicks(pid: number): Promise<number> {
  try {
    return statTicks(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/**
 * CPU ticks so far of every process whose command name is `comm` (e.g. all of PostgreSQL's).
 *
 * @example
 * const postgres = await processTicks('postgres');
 */
export async function processTicks(comm: string): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return 0;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
          if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) return;
          total += statTicks(stat);
        } catch {
          /* gone */
        }
      }),
  );
  return total;
}

/**
 * Pids of the processes whose command name is `comm`, ascending.
 *
 * @example
 * const [natsPid] = await pidsByComm('nats-server');
 */
export async function pidsByComm(comm: string): Promise<number[]> {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return out;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          if ((await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === comm) out.push(Number(pid));
        } catch {
          /* gone */
        }
      }),
  );
  return out.sort((a, b) => a - b);
}

/**
 * CPU ticks so far of each thread of this process, keyed `<tid> <name>` (the main thread is named `main`).
 *
 * @example
 * const before = await threadTicks();
 */
export async function threadTicks(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const tids = await readdir('/proc/self/task');
    await Promise.all(
      tids.map(async (tid) => {
        try {
          const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8');
          const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          out.set(`${tid} ${tid === String(process.pid) ? 'main' : name}`, statTicks(stat));
        } catch {
          /* thread ended */
        }
      }),
    );
  } catch {
    /* no procfs */
  }
  return out;
}

/**
 * Resident memory of a process in KiB (0 when unknown).
 *
 * @example
 * const kib = await rssKiB(pid);
 */
export async function rssKiB(pid: number): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Busy fraction of all cores over `ms` (from /proc/stat; 0 where unavailable).
 *
 * @example
 * const busy = await machineBusy(1000); // 0.42
 */
export async function machineBusy(ms: number): Promise<number> {
  const read = async () => {
    try {
      const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      return { idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return { idle: 0, total: 0 };
    }
  };
  const a = await read();
  await sleep(ms);
  const b = await read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/**
 * Waits (up to `maxMs`) until the machine has been nearly idle (< 10 % busy) for
 * `quietSeconds` seconds in a row (default 3); says once on `log` that it is waiting.
 *
 * @example
 * const q = await waitForQuiet(60_000, { log: progress });
 * if (q.busy >= 0.1) progress('machine still busy; running anyway');
 */
export async function waitForQuiet(maxMs: number, o: { quietSeconds?: number; log: (line: string) => void }): Promise<{ waitedMs: number; busy: number }> {
  const t0 = performance.now();
  const needed = o.quietSeconds ?? 3;
  let quiet = 0;
  let busy = 0;
  let told = false;
  while (performance.now() - t0 < maxMs) {
    busy = await machineBusy(1000);
    quiet = busy < 0.1 ? quiet + 1 : 0;
    if (quiet >= needed) break;
    if (!told && busy >= 0.1) {
      o.log(`machine busy (${Math.round(busy * 100)}% of all cores in use by other processes); waiting up to ${Math.round(maxMs / 1000)} s for it to go quiet`);
      told = true;
    }
  }
  return { waitedMs: Math.round(performance.now() - t0), busy: Math.round(busy * 100) / 100 };
}

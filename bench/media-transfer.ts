/**
 * The media section's transfers on one engine: a real `parley serve` process (PGlite with a data
 * directory, blobs as files in it; or PostgreSQL in a fresh schema, blobs as `blob_chunks` rows)
 * and a client process (bench/media-clients.ts: one SDK device) on loopback. Upload and download
 * MB/s for a small file (median of several runs) and a large one; around each large transfer,
 * the peak RSS of the server process and of the client process (the kernel's VmHWM, reset with
 * /proc/<pid>/clear_refs just before, and VmRSS sampled every 20 ms), and where the CPU went.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { spawnListening, type ListeningProcess } from '@parley/test-kit/process';
import { sleep } from './lib/async.js';
import { runChild } from './lib/child.js';
import { benchDatabase, dropSchema, type Engine } from './lib/engines.js';
import { CLK_TCK, machineBusyTicks, pidTicks, processTicks } from './lib/machine.js';
import { quantile } from './lib/stats.js';
import { MB, mbPerSecond } from './media-data.js';
import type { MediaClientPhase, MediaClientResult, MediaClientSpec } from './media-clients.js';

const BIN = new URL('../packages/cli/bin/parley.js', import.meta.url).pathname;
const SAMPLE_MS = 20;

/** MB/s of one file size: the median run (nearest rank) and every run. */
export interface TransferFigure {
  readonly bytes: number;
  readonly runs: number;
  readonly mbPerSecond: number;
  readonly medianMs: number;
  readonly runsMbPerSecond: number[];
}

/** One process's resident memory around the large transfers (MB = 10^6 bytes). */
export interface ProcessRss {
  /** VmRSS just before the transfer (of the run with the highest peak). */
  readonly baselineMB: number;
  /** Highest VmHWM / sampled VmRSS during any large upload. */
  readonly uploadPeakMB: number;
  /** Highest VmHWM / sampled VmRSS during any large download. */
  readonly downloadPeakMB: number;
  readonly peakMB: number;
  /** Peak minus the baseline of the same transfer: what the transfer added. */
  readonly growthMB: number;
  /** Where the peak comes from: the kernel's high-water mark (reset per transfer) or the 20 ms samples alone. */
  readonly source: 'VmHWM' | 'samples';
  readonly samples: number;
}

/** Cores busy during the large transfers (CPU seconds ÷ wall seconds), per process group. */
export interface TransferCpu {
  readonly server: number;
  readonly client: number;
  /** PostgreSQL's processes (all of them; 0 on PGlite, whose worker is a thread of the server). */
  readonly postgres: number;
  /** This process (the sampler). */
  readonly bench: number;
  /** Everything else on the machine: other people's work. */
  readonly other: number;
}

export interface EngineMediaResult {
  readonly engine: Engine;
  readonly upload: Record<string, TransferFigure>;
  readonly download: Record<string, TransferFigure>;
  readonly peakRss: { readonly fileMB: number; readonly server: ProcessRss; readonly client: ProcessRss };
  readonly cpu: { readonly upload: TransferCpu; readonly download: TransferCpu };
  readonly enrollMs: number;
}

/** KiB of a /proc/<pid>/status field (undefined when unreadable). */
async function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | undefined> {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's VmHWM to its current RSS (Linux ≥ 4.0); false when not allowed. */
async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const mbOf = (kib: number) => Math.round(((kib * 1024) / MB) * 10) / 10;

/** One process's memory over one transfer. */
interface Window {
  baselineKiB: number;
  maxSampleKiB: number;
  samples: number;
  reset: boolean;
}

/** The memory and CPU bookkeeping of the large transfers: `start` and `end` around each. */
class Meter {
  private windows: { server: Window; client: Window } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticks: { server: number; client: number; postgres: number; bench: number; machine: number; at: number } | undefined;
  readonly peaks: Record<'server' | 'client', { upload: number; download: number; baseline: number; growth: number; samples: number; hwm: boolean }> = {
    server: { upload: 0, download: 0, baseline: 0, growth: 0, samples: 0, hwm: true },
    client: { upload: 0, download: 0, baseline: 0, growth: 0, samples: 0, hwm: true },
  };
  readonly cpuTicks: Record<'upload' | 'download', { server: number; client: number; postgres: number; bench: number; machine: number; seconds: number }> = {
    upload: { server: 0, client: 0, postgres: 0, bench: 0, machine: 0, seconds: 0 },
    download: { server: 0, client: 0, postgres: 0, bench: 0, machine: 0, seconds: 0 },
  };

  constructor(
    private readonly serverPid: number,
    private readonly postgres: boolean,
  ) {}

  private async readTicks(clientPid: number) {
    const [server, client, postgres, bench, machine] = await Promise.all([
      pidTicks(this.serverPid),
      pidTicks(clientPid),
      this.postgres ? processTicks('postgres') : Promise.resolve(0),
      pidTicks(process.pid),
      machineBusyTicks(),
    ]);
    return { server, client, postgres, bench, machine, at: performance.now() };
  }

  async start(clientPid: number): Promise<void> {
    const open = async (pid: number): Promise<Window> => {
      const reset = await resetPeak(pid);
      const baselineKiB = (await statusKiB(pid, 'VmRSS')) ?? 0;
      return { baselineKiB, maxSampleKiB: baselineKiB, samples: 1, reset };
    };
    const windows = { server: await open(this.serverPid), client: await open(clientPid) };
    this.windows = windows;
    let busy = false;
    this.timer = setInterval(() => {
      if (busy) return;
      busy = true;
      void Promise.all([statusKiB(this.serverPid, 'VmRSS'), statusKiB(clientPid, 'VmRSS')]).then(([s, c]) => {
        busy = false;
        if (s !== undefined) windows.server.maxSampleKiB = Math.max(windows.server.maxSampleKiB, s);
        if (c !== undefined) windows.client.maxSampleKiB = Math.max(windows.client.maxSampleKiB, c);
        windows.server.samples++;
        windows.client.samples++;
      });
    }, SAMPLE_MS);
    this.ticks = await this.readTicks(clientPid);
  }

  async end(clientPid: number, transfer: 'upload' | 'download'): Promise<void> {
    const ticks = await this.readTicks(clientPid);
    clearInterval(this.timer);
    const before = this.ticks!;
    const cpu = this.cpuTicks[transfer];
    cpu.server += ticks.server - before.server;
    cpu.client += ticks.client - before.client;
    cpu.postgres += ticks.postgres - before.postgres;
    cpu.bench += ticks.bench - before.bench;
    cpu.machine += ticks.machine - before.machine;
    cpu.seconds += (ticks.at - before.at) / 1000;
    for (const [who, pid] of [
      ['server', this.serverPid],
      ['client', clientPid],
    ] as const) {
      const w = this.windows![who];
      const hwm = w.reset ? await statusKiB(pid, 'VmHWM') : undefined;
      const peak = Math.max(w.maxSampleKiB, hwm ?? 0);
      const p = this.peaks[who];
      p[transfer] = Math.max(p[transfer], peak);
      if (peak - w.baselineKiB > p.growth) {
        p.growth = peak - w.baselineKiB;
        p.baseline = w.baselineKiB;
      }
      p.samples += w.samples;
      p.hwm &&= hwm !== undefined;
    }
    this.windows = undefined;
  }

  rss(who: 'server' | 'client'): ProcessRss {
    const p = this.peaks[who];
    return {
      baselineMB: mbOf(p.baseline),
      uploadPeakMB: mbOf(p.upload),
      downloadPeakMB: mbOf(p.download),
      peakMB: mbOf(Math.max(p.upload, p.download)),
      growthMB: mbOf(p.growth),
      source: p.hwm ? 'VmHWM' : 'samples',
      samples: p.samples,
    };
  }

  cpu(transfer: 'upload' | 'download'): TransferCpu {
    const c = this.cpuTicks[transfer];
    const cores = (ticks: number) => (c.seconds > 0 ? Math.round((ticks / CLK_TCK / c.seconds) * 100) / 100 : 0);
    return {
      server: cores(c.server),
      client: cores(c.client),
      postgres: cores(c.postgres),
      bench: cores(c.bench),
      other: Math.max(0, cores(c.machine - c.server - c.client - c.postgres - c.bench)),
    };
  }
}

function transferFigure(bytes: number, ms: readonly number[]): TransferFigure {
  const runs = ms.map((m) => mbPerSecond(bytes, m));
  return { bytes, runs: ms.length, mbPerSecond: quantile(runs, 0.5), medianMs: Math.round(quantile(ms, 0.5)), runsMbPerSecond: runs };
}

/** `1MB`, `100MB`: the figures' keys. */
export const sizeLabel = (bytes: number): string => `${Math.round(bytes / MB)}MB`;

/**
 * Starts `parley serve` on the engine and the client process, runs the transfers, stops both.
 *
 * @example
 * const r = await runEngineTransfers({ engine: 'pglite', databaseUrl, smallBytes: MB, smallRuns: 5, largeBytes: 16 * MB, largeRuns: 1, onProgress: console.log });
 */
export async function runEngineTransfers(o: {
  engine: Engine;
  databaseUrl: string;
  smallBytes: number;
  smallRuns: number;
  largeBytes: number;
  largeRuns: number;
  onProgress: (line: string) => void;
}): Promise<EngineMediaResult> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bench-media-'));
  const { schema } = await benchDatabase(o.engine, { url: o.databaseUrl, schemaPrefix: 'bench_media', pgliteDir: join(dir, 'data') });
  let server: ListeningProcess | undefined;
  try {
    const where =
      o.engine === 'pglite'
        ? ['--data-dir', join(dir, 'data')]
        : (() => {
            const url = new URL(o.databaseUrl);
            url.searchParams.set('options', `-c search_path=${schema!}`);
            return ['--database-url', url.toString(), '--key-dir', join(dir, 'keys')];
          })();
    server = await spawnListening([BIN, 'serve', ...where, '--port', '0', '--admin-token', ADMIN_TOKEN, '--log-level', 'warn', '--max-connections-per-ip', '0'], { what: 'parley serve' });
    const serverPid = server.child.pid!;
    o.onProgress(`media/${o.engine}: parley serve pid ${serverPid} at ${server.url}${schema ? ` (schema ${schema})` : ''}`);
    const meter = new Meter(serverPid, o.engine === 'postgres');
    const spec: MediaClientSpec = { serverUrl: server.url, adminToken: ADMIN_TOKEN, smallBytes: o.smallBytes, smallRuns: o.smallRuns, largeBytes: o.largeBytes, largeRuns: o.largeRuns };
    const specPath = join(dir, 'spec.json');
    await writeFile(specPath, JSON.stringify(spec));
    const result = await runChild<MediaClientResult, MediaClientPhase>({
      file: 'media-clients.ts',
      specPath,
      failedLabel: 'media client',
      processLabel: 'media client process',
      onProgress: (line) => o.onProgress(`media/${o.engine}: ${line}`),
      onPhase: (phase, control) => {
        const step = phase.at === 'start' ? meter.start(phase.pid) : meter.end(phase.pid, phase.transfer);
        step.then(
          () => control.go(),
          (error: unknown) => control.fail(`memory meter: ${String(error)}`),
        );
      },
    });
    const label = { small: sizeLabel(o.smallBytes), large: sizeLabel(o.largeBytes) };
    return {
      engine: o.engine,
      upload: { [label.small]: transferFigure(o.smallBytes, result.small.uploadMs), [label.large]: transferFigure(o.largeBytes, result.large.uploadMs) },
      download: { [label.small]: transferFigure(o.smallBytes, result.small.downloadMs), [label.large]: transferFigure(o.largeBytes, result.large.downloadMs) },
      peakRss: { fileMB: o.largeBytes / MB, server: meter.rss('server'), client: meter.rss('client') },
      cpu: { upload: meter.cpu('upload'), download: meter.cpu('download') },
      enrollMs: result.enrollMs,
    };
  } catch (error) {
    if (server) o.onProgress(`media/${o.engine}: server output: ${server.output().slice(-2000)}`);
    throw error;
  } finally {
    if (server) {
      // Drains and stops on SIGTERM; killed if it has not after 15 s.
      await Promise.race([server.kill('SIGTERM'), sleep(15_000)]);
      await server.kill('SIGKILL');
    }
    if (schema) await dropSchema(o.databaseUrl, schema, o.onProgress);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The cluster benchmark's load driver: forks the client processes (bench/cluster-clients.ts),
 * steps them through connect → warm-up → measured window → drain → close, samples the
 * servers' memory and everyone's CPU, and sums the children's figures into one run.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ChildResult, ChildToParent, ClusterClientSpec, ParentToChild, SystemKind } from '../cluster-clients.js';
import { sleep } from '../lib/async.js';
import { histogramPercentiles } from '../lib/histogram.js';
import { CLK_TCK, machineBusyTicks, pidTicks, pidsByComm } from '../lib/machine.js';
import type { ClusterRun, CpuCores, MemoryFigures, MemorySample } from './types.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(benchDir, '..');

/** Whose CPU a run counts: server pids, PostgreSQL (by name), the notices' nats-server, the client pids. */
export interface CpuGroups {
  servers: readonly number[];
  postgres: boolean;
  /** Parley runs: the nats-server carrying the notices. */
  nats: number | undefined;
  clients: readonly number[];
}

interface CpuSnapshot {
  at: number;
  servers: number;
  postgres: number;
  nats: number;
  clients: number;
  machine: number;
}

async function sumTicks(pids: readonly number[]): Promise<number> {
  return (await Promise.all(pids.map(pidTicks))).reduce((a, b) => a + b, 0);
}

async function cpuSnapshot(g: CpuGroups): Promise<CpuSnapshot> {
  const [servers, postgres, nats, clients, machine] = await Promise.all([
    sumTicks(g.servers),
    g.postgres ? pidsByComm('postgres').then(sumTicks) : Promise.resolve(0),
    g.nats !== undefined ? pidTicks(g.nats) : Promise.resolve(0),
    sumTicks(g.clients),
    machineBusyTicks(),
  ]);
  return { at: performance.now(), servers, postgres, nats, clients, machine };
}

function cpuCores(a: CpuSnapshot, b: CpuSnapshot, g: CpuGroups): CpuCores {
  const wall = (b.at - a.at) / 1000;
  const cores = (ticks: number) => Math.round((ticks / CLK_TCK / wall) * 100) / 100;
  const servers = b.servers - a.servers;
  const postgres = b.postgres - a.postgres;
  const nats = b.nats - a.nats;
  const clients = b.clients - a.clients;
  const machine = b.machine - a.machine;
  const n = cpus().length;
  return {
    servers: cores(servers),
    postgres: g.postgres ? cores(postgres) : undefined,
    nats: g.nats !== undefined ? cores(nats) : undefined,
    clients: cores(clients),
    other: Math.max(0, cores(machine - servers - postgres - nats - clients)),
    machineUtilization: Math.round((machine / CLK_TCK / wall / n) * 1000) / 1000,
    cores: n,
  };
}

/** What one load run measured. */
export interface LoadOutcome {
  readonly results: ChildResult[];
  readonly cpu: CpuCores;
  readonly connectSeconds: number;
  readonly memoryAfterConnect: MemorySample[];
  readonly memoryAfterLoad: MemorySample[];
}

/** How the driver reads the servers of the system under load. */
export interface LoadHooks {
  /** RSS of the server processes (KiB each), sampled after the connect (and after the load). */
  sampleMemory(): Promise<MemorySample[]>;
  cpuGroups(clients: readonly number[]): CpuGroups;
}

/**
 * Forks the client processes, lets them connect, samples memory, runs warm-up +
 * measured window (timed, or count-based when the specs carry `phaseMessages`), collects
 * their results and closes them.
 *
 * @example
 * const load = await driveLoad('NATS core', specs, 2, 4, hooks, log, tmp);
 */
export async function driveLoad(label: string, specs: readonly ClusterClientSpec[], warmupS: number, measureS: number, hooks: LoadHooks, log: (line: string) => void, tmp: string): Promise<LoadOutcome> {
  /** Count-based phases (specs' `phaseMessages`): the children switch phases themselves; warmupS / measureS are the longest waits. */
  const counted = specs.some((s) => s.phaseMessages !== undefined);
  const children: ChildProcess[] = [];
  const results = new Map<number, ChildResult>();
  const delivered = new Map<number, number>();
  const errors = new Map<number, number>();
  /** How many clients reported each kind of event, and who waits for all of them. */
  const counts = new Map<string, number>();
  const waiters: { kind: string; resolve: () => void }[] = [];
  let failure: string | undefined;
  let failed!: (e: Error) => void;
  const failedPromise = new Promise<never>((_, reject) => (failed = reject));
  failedPromise.catch(() => {});
  const arrive = (kind: string) => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    for (const w of waiters.filter((v) => v.kind === kind)) if ((counts.get(kind) ?? 0) >= specs.length) w.resolve();
  };
  const waitAll = (kind: string, timeoutMs: number): Promise<void> => {
    const all = (counts.get(kind) ?? 0) >= specs.length ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ kind, resolve }));
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      all,
      failedPromise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: clients did not report '${kind}' within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const connected = waitAll('connected', 300_000);
  let connectMs = 0;
  const t0 = performance.now();
  for (const spec of specs) {
    const path = join(tmp, `clients-${spec.system}-${spec.child}.json`);
    await writeFile(path, JSON.stringify(spec));
    const child = fork(join(benchDir, 'cluster-clients.ts'), [path], { cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.on('message', (m: ChildToParent) => {
      if (m.type === 'connected') {
        connectMs = Math.max(connectMs, m.ms);
        arrive('connected');
      } else if (m.type === 'tick') {
        delivered.set(m.child, m.delivered);
        errors.set(m.child, m.errors);
      } else if (m.type === 'result') {
        results.set(m.result.child, m.result);
        arrive('result');
      } else if (m.type === 'phase') arrive(`phase:${m.phase}`);
      else if (m.type === 'closed') arrive('closed');
      else if (m.type === 'failed') {
        failure = `client ${m.child}: ${m.message}`;
        failed(new Error(failure));
      }
    });
    child.on('exit', (code) => {
      if (!results.has(spec.child) && failure === undefined) {
        failure = `client ${spec.child} exited with ${code} before its result`;
        failed(new Error(failure));
      }
    });
  }
  const send = (m: ParentToChild) => {
    for (const c of children) if (c.connected) c.send(m);
  };
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  try {
    await connected;
    const connectSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`${specs.reduce((a, s) => a + s.pairCount * 2, 0)} connections up in ${connectSeconds} s (slowest client ${(connectMs / 1000).toFixed(1)} s)`);
    await sleep(1000); // let connect-time work (mailbox reads, subscriptions) settle
    const memoryAfterConnect = await hooks.sampleMemory();
    const groups = hooks.cpuGroups(children.map((c) => c.pid!));

    let phase = 'warm-up';
    let last = 0;
    let lastAt = performance.now();
    const progress = setInterval(() => {
      const total = [...delivered.values()].reduce((a, b) => a + b, 0);
      const now = performance.now();
      const rate = ((total - last) * 1000) / (now - lastAt);
      last = total;
      lastAt = now;
      log(`${phase}: ${total} delivered, ${Math.round(rate)} msg/s now, ${[...errors.values()].reduce((a, b) => a + b, 0)} errors`);
    }, 2000);
    let cpu: CpuCores;
    try {
      send({ type: 'start' });
      if (counted) await waitAll('phase:measure-start', warmupS * 1000);
      else await Promise.race([sleep(warmupS * 1000), failedPromise]);
      const c0 = await cpuSnapshot(groups);
      if (!counted) send({ type: 'measure-start' });
      phase = 'measured';
      if (counted) {
        await waitAll('phase:measure-end', measureS * 1000).catch((error: unknown) => {
          if (failure !== undefined) throw error;
          log(`${String(error)}; ending the measured phase`);
          send({ type: 'measure-end' });
        });
      } else {
        await Promise.race([sleep(measureS * 1000), failedPromise]);
        send({ type: 'measure-end' });
      }
      const c1 = await cpuSnapshot(groups);
      cpu = cpuCores(c0, c1, groups);
      phase = 'draining';
      await waitAll('result', 30_000);
    } finally {
      clearInterval(progress);
    }
    const memoryAfterLoad = await hooks.sampleMemory();
    send({ type: 'close' });
    await waitAll('closed', 20_000).catch((error: unknown) => log(`closing clients: ${String(error)}`));
    return { results: [...results.values()].sort((a, b) => a.child - b.child), cpu, connectSeconds, memoryAfterConnect, memoryAfterLoad };
  } finally {
    await sleep(300);
    killAll();
  }
}

/**
 * Splits `pairs` into `processes` contiguous shares.
 *
 * @example
 * shares(100, 2); // [{ first: 0, count: 50 }, { first: 50, count: 50 }]
 */
export function shares(pairs: number, processes: number): { first: number; count: number }[] {
  const n = Math.max(1, Math.min(processes, pairs));
  return Array.from({ length: n }, (_, i) => {
    const first = Math.floor((i * pairs) / n);
    return { first, count: Math.floor(((i + 1) * pairs) / n) - first };
  });
}

/**
 * One system's run from its children's results: rates, merged percentiles, totals and notes.
 *
 * @example
 * return summarizeRun({ system, label, nodes: undefined, devices, windowPerSender, payloadBytes, crossNodePairs: undefined, load, memory, setupSeconds, notes });
 */
export function summarizeRun(o: {
  system: SystemKind;
  label: string;
  nodes: number | undefined;
  devices: number;
  windowPerSender: number;
  payloadBytes: number;
  crossNodePairs: number | undefined;
  load: LoadOutcome;
  memory: MemoryFigures;
  setupSeconds: number;
  notes: string[];
}): ClusterRun {
  const r = o.load.results;
  const measured = r.reduce((a, x) => a + x.measuredDelivered, 0);
  const mps = Math.round(r.reduce((a, x) => a + (x.measuredSeconds > 0 ? x.measuredDelivered / x.measuredSeconds : 0), 0));
  const seconds = Math.max(...r.map((x) => x.measuredSeconds));
  const sum = (f: (t: ChildResult['totals']) => number) => r.reduce((a, x) => a + f(x.totals), 0);
  const totals = {
    sent: sum((t) => t.sent),
    acknowledged: sum((t) => t.acknowledged),
    delivered: sum((t) => t.delivered),
    duplicates: sum((t) => t.duplicates),
    unexpected: sum((t) => t.unexpected),
    publishErrors: sum((t) => t.publishErrors),
    otherErrors: sum((t) => t.otherErrors),
    drainedCleanly: r.every((x) => x.totals.drainedCleanly),
  };
  const cpu = o.load.cpu;
  const machineCores = cpu.machineUtilization * cpu.cores;
  const notes = [...o.notes];
  if (cpu.other > 0.15) notes.push(`other processes used ${cpu.other.toFixed(2)} cores during the measured window (shared machine): figures are pessimistic`);
  const elu = r.map((x) => x.cpu.eventLoopUtilization);
  if (elu.some((e) => e > 0.9)) notes.push(`a client process's event loop was ${Math.round(Math.max(...elu) * 100)}% busy: the load generator (sharing the machine's cores) may limit this figure`);
  if (!totals.drainedCleanly) notes.push('the drain after the measured window did not complete (see errorSamples)');
  return {
    system: o.system,
    label: o.label,
    nodes: o.nodes,
    devices: o.devices,
    connections: r.reduce((a, x) => a + x.connections, 0),
    pairs: o.devices / 2,
    windowPerSender: o.windowPerSender,
    payloadBytes: o.payloadBytes,
    crossNodePairs: o.crossNodePairs,
    messagesPerSecond: mps,
    measuredMessages: measured,
    measuredSeconds: seconds,
    e2eMs: histogramPercentiles(r.map((x) => x.e2e)),
    publishAckMs: o.system === 'nats' ? undefined : histogramPercentiles(r.map((x) => x.publishAck)),
    memory: o.memory,
    cpu,
    messagesPerMachineCpuSecond: machineCores > 0 ? Math.round(mps / machineCores) : 0,
    clientEventLoopUtilization: elu,
    totals,
    setupSeconds: o.setupSeconds,
    connectSeconds: o.load.connectSeconds,
    notes,
    errorSamples: r.flatMap((x) => x.errorSamples).slice(0, 10),
  };
}

/**
 * Memory growth of the server processes while the devices connected, per device.
 *
 * @example
 * const memory = memoryFigures([comm], [pid], [before], load.memoryAfterConnect, load.memoryAfterLoad, devices);
 */
export function memoryFigures(names: readonly string[], pids: readonly number[], before: readonly MemorySample[], after: readonly MemorySample[], afterLoad: readonly MemorySample[], devices: number): MemoryFigures {
  const rss = (xs: readonly MemorySample[]) => xs.reduce((a, b) => a + b.rssKiB, 0);
  const live = (xs: readonly MemorySample[]) => xs.reduce((a, b) => a + (b.liveKiB ?? 0), 0);
  const perDevice = (kib: number) => Math.round((kib / devices) * 10) / 10;
  return {
    processes: names.map((name, i) => ({ name, pid: pids[i]!, before: before[i]!, after: after[i]!, afterLoad: afterLoad[i]! })),
    beforeKiB: rss(before),
    afterKiB: rss(after),
    afterLoadKiB: rss(afterLoad),
    perDeviceKiB: perDevice(rss(after) - rss(before)),
    livePerDeviceKiB: before.every((m) => m.liveKiB !== undefined) ? perDevice(live(after) - live(before)) : undefined,
  };
}


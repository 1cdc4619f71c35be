/**
 * Part 1 of the routing benchmark: routing overhead on the hot path. Two servers, identical
 * but for `routing.enabled`; the clients (bench/routing-clients.ts, their own process by
 * default) alternate rounds between them; this process samples the servers' CPU.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_BRAND } from '../../packages/cli/src/demo/providers.js';
import { summarize } from '../lib/stats.js';
import { runChild } from '../lib/child.js';
import type { Engine } from '../lib/engines.js';
import { runHotClients, type HotClientsResult, type HotClientsSpec, type HotPhase, type HotRecord } from '../routing-clients.js';
import { HOT_BANK, HOT_CLASS } from './config.js';
import { backendCpuDelta, epochMs, noActiveRoutes, postgresBackendCpuMs, round2, settledRoutes, type BenchServer } from './support.js';
import type { HotPathFigure, HotPathResult } from './types.js';

/**
 * Runs the hot path on `on` (routing enabled) and `off` (disabled) and compares them.
 *
 * @example
 * const hotPath = await runHotPath('pglite', on, off, { customers: 8, warmup: 16, perRound: 80, rounds: 2, clients: 'child', tmp, databaseUrl }, notes, log);
 */
export async function runHotPath(
  engine: Engine,
  on: BenchServer,
  off: BenchServer,
  o: { customers: number; warmup: number; perRound: number; rounds: number; clients: 'child' | 'inline'; tmp: string; databaseUrl: string },
  notes: string[],
  log: (line: string) => void,
): Promise<HotPathResult> {
  const spec: HotClientsSpec = {
    sides: [
      { label: 'disabled', url: off.url },
      { label: 'enabled', url: on.url },
    ],
    businessId: HOT_BANK,
    brand: DEMO_BRAND,
    messageClass: HOT_CLASS,
    customers: o.customers,
    warmup: o.warmup,
    perRound: o.perRound,
    rounds: o.rounds,
  };
  const cpu = { disabled: { server: 0, postgres: 0 }, enabled: { server: 0, postgres: 0 } };
  let cpu0 = process.cpuUsage();
  let pg0 = new Map<number, number>();
  const pgPort = Number(new URL(o.databaseUrl).port || 5432);
  const pgCpu = (label: 'disabled' | 'enabled') =>
    engine === 'postgres' ? postgresBackendCpuMs(label === 'enabled' ? on.server : off.server, pgPort) : Promise.resolve(new Map<number, number>());
  let stillActive = 0;
  const onPhase = async (p: HotPhase): Promise<void> => {
    if (p.phase === 'start') {
      pg0 = await pgCpu(p.side);
      cpu0 = process.cpuUsage();
      return;
    }
    // With routing on, the run ends when every route has finished (its CPU belongs to the run).
    if (p.side === 'enabled') stillActive += await noActiveRoutes(on.server, 15_000);
    const used = process.cpuUsage(cpu0);
    const pg1 = await pgCpu(p.side);
    cpu[p.side].server += (used.user + used.system) / 1000;
    cpu[p.side].postgres += backendCpuDelta(pg0, pg1);
  };
  const progress = (line: string) => log(`hot path: ${line}`);
  let clients: HotClientsResult;
  if (o.clients === 'child') {
    const specPath = join(o.tmp, 'routing-hot-spec.json');
    await writeFile(specPath, JSON.stringify(spec));
    clients = await runChild<HotClientsResult, HotPhase>({
      file: 'routing-clients.ts',
      specPath,
      failedLabel: 'hot-path clients',
      processLabel: 'hot-path client process',
      onProgress: progress,
      // The child waits after each phase until this process has sampled (and, with routing on, every route finished).
      onPhase: (phase, child) => {
        onPhase(phase).then(
          () => child.go(),
          (error: unknown) => child.fail(error instanceof Error ? error.message : String(error)),
        );
      },
    });
  } else {
    clients = await runHotClients(spec, { onProgress: progress, onPhase });
  }
  if (stillActive > 0) notes.push(`hot path: ${stillActive} routes were still active 15 s after a measured run`);
  const side = (label: 'disabled' | 'enabled') => {
    const s = clients.sides.find((x) => x.label === label);
    if (!s) throw new Error(`no ${label} side in the client result`);
    return s;
  };
  const figure = (label: 'disabled' | 'enabled'): HotPathFigure => {
    const s = side(label);
    const n = Math.max(1, s.records.length);
    const e2e = s.records.flatMap((r) => (r.eventAt === undefined ? [] : [r.eventAt - r.t0]));
    return {
      routing: label,
      messages: s.records.length,
      seconds: round2(s.seconds),
      messagesPerSecond: s.seconds > 0 ? Math.round(s.records.length / s.seconds) : 0,
      sendMs: summarize(s.records.map((r) => r.t1 - r.t0)),
      submitMs: summarize(s.records.flatMap((r) => (r.submitMs === undefined ? [] : [r.submitMs]))),
      e2eMs: summarize(e2e),
      cpuMsPerMessage: {
        server: round2(cpu[label].server / n),
        clients: o.clients === 'child' ? round2(s.clientCpuMs / n) : 0,
        postgres: round2(cpu[label].postgres / n),
      },
      errors: s.errors,
    };
  };
  const d = figure('disabled');
  const e = figure('enabled');
  for (const s of clients.sides) for (const x of s.errorSamples) notes.push(`hot path (routing ${s.label}) error: ${x}`);

  const records: HotRecord[] = side('enabled').records;
  const rows = await settledRoutes(on.server, records.map((x) => x.messageId), 15_000);
  const routes: Record<string, number> = {};
  const ackToDelivered: number[] = [];
  const messageToAck: number[] = [];
  const sendToDelivered: number[] = [];
  for (const rec of records) {
    const row = rows.get(rec.messageId);
    const key = row ? `${row.state}${row.path ? `/${row.path}` : ''}` : 'missing';
    routes[key] = (routes[key] ?? 0) + 1;
    if (rec.ackAt !== undefined && rec.eventAt !== undefined) messageToAck.push(rec.ackAt - rec.eventAt);
    if (row?.state === 'delivered' && row.finished_at !== null) {
      const done = epochMs(row.finished_at);
      sendToDelivered.push(done - rec.t0);
      if (rec.ackAt !== undefined) ackToDelivered.push(done - rec.ackAt);
    }
  }
  const notApp = records.length - (routes['delivered/app'] ?? 0);
  if (notApp > 0) {
    e.errors += notApp;
    notes.push(`hot path: ${notApp} of ${records.length} routes did not end delivered/app: ${JSON.stringify(routes)}`);
  }
  const ratio = (a: number, b: number) => (b > 0 ? round2(a / b) : 0);
  const serverCpu = (f: HotPathFigure) => f.cpuMsPerMessage.server + f.cpuMsPerMessage.postgres;
  return {
    config: { customers: o.customers, warmupPerConfig: o.warmup, measuredPerConfig: o.perRound * o.rounds, rounds: o.rounds, class: HOT_CLASS, inFlightPerCustomer: 1, clients: o.clients },
    disabled: d,
    enabled: e,
    ratios: {
      sendP50: ratio(e.sendMs.p50, d.sendMs.p50),
      sendP99: ratio(e.sendMs.p99, d.sendMs.p99),
      submitP50: ratio(e.submitMs.p50, d.submitMs.p50),
      submitP99: ratio(e.submitMs.p99, d.submitMs.p99),
      e2eP50: ratio(e.e2eMs.p50, d.e2eMs.p50),
      e2eP99: ratio(e.e2eMs.p99, d.e2eMs.p99),
      throughput: ratio(e.messagesPerSecond, d.messagesPerSecond),
      serverCpuPerMessage: ratio(serverCpu(e), serverCpu(d)),
    },
    deltas: {
      submitP50Ms: round2(e.submitMs.p50 - d.submitMs.p50),
      submitP99Ms: round2(e.submitMs.p99 - d.submitMs.p99),
      e2eP50Ms: round2(e.e2eMs.p50 - d.e2eMs.p50),
      e2eP99Ms: round2(e.e2eMs.p99 - d.e2eMs.p99),
      serverCpuMsPerMessage: round2(serverCpu(e) - serverCpu(d)),
    },
    ackToDeliveredMs: summarize(ackToDelivered),
    messageToAckMs: summarize(messageToAck),
    sendToDeliveredMs: summarize(sendToDelivered),
    routes,
    clientSetupSeconds: clients.setupSeconds,
  };
}

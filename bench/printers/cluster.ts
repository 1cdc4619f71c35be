/** Console report of the cluster section (bench/cluster.ts). */
import type { ClusterBenchResult } from '../cluster.js';
import { msFine as ms, num, ratio as x, table } from './format.js';

/**
 * The side-by-side table, the ratios and the notes (console).
 *
 * @example
 * printCluster(await runClusterBench({ quick: true }));
 */
export function printCluster(r: ClusterBenchResult): void {
  const c = r.config;
  console.log(
    `\nCluster load (${num(c.devices)} connected devices = ${num(c.pairs)} sender→recipient pairs, ${c.payloadBytes} B messages, ${c.windowPerSender} in flight per sender (${num(c.inFlight)} in all), ${c.measureSeconds} s measured after ${c.warmupSeconds} s warm-up${r.quick ? ', quick' : ''})`,
  );
  if (r.runs.length > 0) {
    console.log(
      table(
        ['system', 'msgs/s', 'e2e p50', 'e2e p99', 'e2e p99.9', 'ack p50/p99', 'KiB/device', 'live KiB/dev', 'servers', 'postgres', 'nats', 'clients', 'client loop', 'other', 'msgs/machine-cpu-s', 'errors', 'dups'],
        r.runs.map((run) => [
          run.label,
          num(run.messagesPerSecond),
          ms(run.e2eMs.p50),
          ms(run.e2eMs.p99),
          ms(run.e2eMs.p999),
          run.publishAckMs ? `${ms(run.publishAckMs.p50)}/${ms(run.publishAckMs.p99)}` : '—',
          run.memory.perDeviceKiB.toFixed(1),
          run.memory.livePerDeviceKiB === undefined ? '—' : run.memory.livePerDeviceKiB.toFixed(1),
          run.cpu.servers.toFixed(2),
          run.cpu.postgres === undefined ? '—' : run.cpu.postgres.toFixed(2),
          run.cpu.nats === undefined ? '—' : run.cpu.nats.toFixed(2),
          run.cpu.clients.toFixed(2),
          run.clientEventLoopUtilization.map((e) => `${Math.round(e * 100)}%`).join('+'),
          run.cpu.other.toFixed(2),
          num(run.messagesPerMachineCpuSecond),
          String(run.totals.publishErrors + run.totals.otherErrors + run.totals.unexpected),
          String(run.totals.duplicates),
        ]),
      ),
    );
    console.log(
      '(latency in ms: e2e = send → the recipient has it; ack = send → the publish is acknowledged (Parley: durable in PostgreSQL). KiB/device = server RSS growth while the devices connected ÷ devices; live = Node heap used + external after a GC (Parley nodes only). CPU in cores over the measured window; "nats" = the nats-server carrying Parley\'s notices; client loop = event-loop utilization of each client process (near 100 %: the load generator limits the figure). dups = at-least-once redeliveries (not errors).)',
    );
    for (const run of r.runs.filter((x) => x.system === 'parley')) {
      const m = run.memory;
      console.log(
        `${run.label}: node RSS before/after connecting/after load ${m.processes.map((p) => `${(p.before.rssKiB / 1024).toFixed(0)}/${(p.after.rssKiB / 1024).toFixed(0)}/${(p.afterLoad.rssKiB / 1024).toFixed(0)}`).join(', ')} MiB; live JS memory +${m.livePerDeviceKiB ?? 0} KiB/device${m.natsServerPerDeviceKiB !== undefined ? `; nats-server +${m.natsServerPerDeviceKiB} KiB/device` : ''}; cross-node pairs ${run.crossNodePairs}/${run.pairs}; setup ${run.setupSeconds} s, connect ${run.connectSeconds} s`,
      );
    }
  }
  if (r.ratios.length > 0) {
    console.log('\nParley ÷ reference (throughput: higher is better; latency and memory: lower is better)');
    console.log(
      table(
        ['Parley', 'reference', 'msgs/s', 'p50', 'p99', 'p99.9', 'KiB/device'],
        r.ratios.map((q) => [`${q.parleyNodes} node${q.parleyNodes > 1 ? 's' : ''}`, q.reference, x(q.throughput), x(q.p50), x(q.p99), x(q.p999), q.memoryPerDevice > 0 ? x(q.memoryPerDevice) : '—']),
      ),
    );
  }
  for (const n of r.notes) console.log(`note (cluster): ${n}`);
  for (const run of r.runs) {
    for (const n of run.notes) console.log(`note (${run.label}): ${n}`);
    for (const e of run.errorSamples) console.log(`error sample (${run.label}): ${e}`);
  }
  for (const s of r.skipped) console.log(`cluster: ${s.system} failed — ${s.reason}`);
}

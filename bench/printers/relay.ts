/** Console report of the relay section (bench/relay.ts). */
import { formatSummary } from '../cpu-profile.js';
import { RELAY_ANCHORS, type RelayBenchResult, type RelayPeersResult } from '../relay.js';
import { ms, num, ratio, table } from './format.js';

/**
 * The peers measured in the same run next to each engine's Parley figures, the ratios
 * (ours ÷ peer), skipped peers, and the issue's reference figures as a secondary line.
 */
function printPeers(results: readonly RelayBenchResult[], peers: RelayPeersResult | undefined): void {
  if (peers) {
    const c = peers.config;
    console.log('\nRelay vs peers measured in this run (same workload: %s pairs, window %s/sender, %s B, receivers ack; warm-up %s, measured %s deliveries)', c.pairs, c.windowPerSender, c.payloadBytes, num(c.warmupMessages), num(c.measuredMessages));
    const ratios = (peer: RelayPeersResult['runs'][number]) =>
      results.flatMap((r) => {
        const x = r.peers.find((p) => p.peer === peer.peer);
        return x ? [ratio(x.throughputRatio), ratio(x.p99Ratio)] : ['—', '—'];
      });
    console.log(
      table(
        ['system', 'acknowledged when', 'msgs/s', 'e2e p50', 'e2e p99', 'e2e p99.9', 'ack p99', 'measured', 'errors', ...results.flatMap((r) => [`${r.engine} ÷ thrpt`, `${r.engine} ÷ p99`])],
        [
          ...results.map((r) => [`Parley, ${r.engine}`, r.target.durability, num(r.messagesPerSecond), ms(r.e2eMs.p50), ms(r.e2eMs.p99), ms(r.e2eMs.p999), ms(r.submitAckMs.p99), `${num(r.config.measuredMessages)} in ${r.measuredSeconds.toFixed(1)}s`, String(r.totals.submitErrors + r.totals.ackErrors + r.totals.otherErrors + r.totals.payloadMismatches), ...results.flatMap(() => ['', ''])]),
          ...peers.runs.map((p) => [
            p.label,
            p.durability,
            num(p.messagesPerSecond),
            ms(p.e2eMs.p50),
            ms(p.e2eMs.p99),
            ms(p.e2eMs.p999),
            p.publishAckMs ? ms(p.publishAckMs.p99) : '—',
            `${num(p.measuredMessages)} in ${p.measuredSeconds.toFixed(1)}s`,
            String(p.totals.publishErrors + p.totals.otherErrors + p.totals.unexpected),
            ...ratios(p),
          ]),
        ],
      ),
    );
    console.log('(ratios are Parley ÷ peer in this run: throughput higher is better, p99 lower is better; latencies in ms, e2e = send → the receiver has it)');
    for (const s of peers.skipped) console.log(`peer ${s.peer}: ${s.reason.startsWith('failed') ? s.reason : `skipped (${s.reason})`}`);
    for (const n of peers.notes) console.log(`note (peers): ${n}`);
    for (const p of peers.runs) {
      // The runner's contention and drain warnings (its other notes are in the JSON).
      for (const n of p.notes.filter((x) => /other processes|event loop|drain/.test(x))) console.log(`note (${p.peer}): ${n}`);
      for (const e of p.errorSamples) console.log(`error sample (${p.peer}): ${e}`);
    }
  } else {
    console.log('\nPeers: not measured in this run (--peers none)');
  }
  console.log(`Reference figures from the issue (not measured in this run): ${RELAY_ANCHORS.map((a) => `${a.name} ${num(a.messagesPerSecond)} msgs/s p99 ${a.p99Ms} ms`).join('; ')}`);
}

/**
 * Throughput, latency, CPU, the peers measured in the same run (ratios), the targets and,
 * when recorded, database activity, plans, PostgreSQL counters and the CPU profile of each
 * relay run.
 *
 * @example
 * printRelay([await runRelayBench({ engine: 'pglite', quick: true })], undefined);
 */
export function printRelay(results: readonly RelayBenchResult[], peers: RelayPeersResult | undefined): void {
  if (results.length === 0 && !peers) return;
  if (results.length === 0) return printPeers(results, peers);
  console.log('\nRelay throughput (durable; %s pairs, window %s/sender, ~%s B MLS messages, receivers ack)', results[0]!.config.pairs, results[0]!.config.windowPerSender, results[0]!.config.payloadBytes.mean);
  console.log(
    table(
      ['engine', 'mode', 'msgs/s', 'msgs/s/core', 'e2e p50', 'e2e p99', 'e2e p99.9', 'ack p50', 'ack p99', 'ack p99.9', 'measured', 'errors'],
      results.map((r) => [
        r.engine,
        r.quick ? 'quick' : 'full',
        num(r.messagesPerSecond),
        num(r.messagesPerSecondPerCore),
        ms(r.e2eMs.p50),
        ms(r.e2eMs.p99),
        ms(r.e2eMs.p999),
        ms(r.submitAckMs.p50),
        ms(r.submitAckMs.p99),
        ms(r.submitAckMs.p999),
        `${num(r.config.measuredMessages)} in ${r.measuredSeconds.toFixed(1)}s`,
        String(r.totals.submitErrors + r.totals.ackErrors + r.totals.otherErrors + r.totals.payloadMismatches),
      ]),
    ),
  );
  console.log('(latencies in ms; e2e = sender submit → receiver has the deliver frame; ack = submit → durable `submitted`)');

  console.log('\nCPU over the measured phase (%s cores)', results[0]!.cpu.cores);
  console.log(
    table(
      ['engine', 'server proc', 'server loop', 'loop lag p50/p99 ms', 'clients', 'postgres', 'other procs', 'machine', 'msgs/server-cpu-s', 'msgs/machine-cpu-s'],
      results.map((r) => {
        const core = (v: number | undefined) => (v === undefined ? '—' : `${(v / 1000 / r.measuredSeconds).toFixed(2)} cores`);
        return [
          r.engine,
          core(r.cpu.serverProcessMs),
          `${Math.round(r.cpu.serverEventLoopUtilization * 100)}% busy`,
          `${ms(r.cpu.serverEventLoopDelayMs.p50)}/${ms(r.cpu.serverEventLoopDelayMs.p99)}`,
          r.cpu.clientProcessMs === undefined ? 'inline' : `${core(r.cpu.clientProcessMs)} (loop ${Math.round(r.clientEventLoopUtilization * 100)}%)`,
          core(r.cpu.postgresMs),
          core(r.cpu.otherMs),
          `${Math.round(r.cpu.machineUtilization * 100)}%`,
          num(r.messagesPerServerCpuSecond),
          num(r.messagesPerMachineCpuSecond),
        ];
      }),
    ),
  );

  for (const r of results) {
    console.log(`server threads (${r.engine}): ${r.cpu.serverThreads.map((t) => `${t.thread} ${t.cores.toFixed(2)}`).join(', ')} cores`);
  }

  printPeers(results, peers);
  for (const r of results) {
    const t = r.target;
    console.log(
      'Target (%s) ≥ %s msgs/s%s, %s: %s (%s msgs/s = %s of target, p99 %s ms)',
      r.engine,
      num(t.messagesPerSecond),
      t.p99Ms === undefined ? '' : ` with p99 ≤ ${t.p99Ms} ms`,
      t.durability,
      t.met ? 'met' : 'NOT MET',
      num(r.messagesPerSecond),
      ratio(t.throughputRatio),
      ms(r.e2eMs.p99),
    );
  }
  for (const r of results) {
    if (r.db) {
      console.log(`\nServer database activity (${r.engine}, measured phase): ${num(r.db.transactionsPerSecond)} tx/s, ${r.db.statementsPerTransaction} statements/tx, tx p50 ${ms(r.db.transactionMs.p50)} ms p99 ${ms(r.db.transactionMs.p99)} ms; append batch p50 ${r.db.appendBatch.p50} mean ${r.db.appendBatch.mean} max ${r.db.appendBatch.max}; ack batch (requests) p50 ${r.db.ackBatchRequests.p50} mean ${r.db.ackBatchRequests.mean}`);
      console.log(
        table(
          ['statement', 'count', 'mean ms', 'total ms', 'rows p50', 'rows mean'],
          r.db.statements.map((s) => [s.statement, num(s.count), ms(s.meanMs), num(s.totalMs), s.batchRows ? String(s.batchRows.p50) : '', s.batchRows ? String(s.batchRows.mean) : '']),
        ),
      );
    }
    if (r.db && r.db.planProbes.length > 0) {
      console.log(`\nEXPLAIN ANALYZE of hot statements after the load (${r.engine}; 200 most recent deliveries)`);
      console.log(table(['statement', 'exec ms', 'scans (actual rows)'], r.db.planProbes.map((p) => [p.statement, ms(p.executionMs), p.scans.join('; ')])));
    }
    if (r.postgres) {
      const p = r.postgres;
      console.log(
        `\nPostgreSQL per message (whole load, ${num(p.messages)} messages): WAL ${num(p.walBytesPerMessage)} B in ${p.walRecordsPerMessage} records (${p.walFullPageImagesPerMessage} full-page images), ${p.commitsPerMessage} commits`,
      );
      console.log(
        table(
          ['table', 'inserted', 'updated', 'hot updated', 'deleted'],
          Object.entries(p.tables).map(([name, t]) => [name, String(t.inserted), String(t.updated), String(t.hotUpdated), String(t.deleted)]),
        ),
      );
    }
    if (r.profile) {
      console.log(`\nServer main-thread CPU profile (${r.engine}, measured phase; ${r.profile.path})`);
      console.log(formatSummary({ ...r.profile, selfByFunction: r.profile.selfByFunction.slice(0, 20), selfByModule: r.profile.selfByModule.slice(0, 12) }));
    }
    for (const n of r.notes) console.log(`note (${r.engine}): ${n}`);
    for (const e of r.errorSamples) console.log(`error sample (${r.engine}): ${e}`);
  }
}

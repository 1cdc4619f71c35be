/** Console report of the relay section (bench/relay.ts). */
import { formatSummary } from '../cpu-profile.js';
import { RELAY_ANCHORS, RELAY_TARGET, type RelayBenchResult } from '../relay.js';
import { ms, num, ratio, table } from './format.js';

/**
 * Throughput, latency, CPU, the anchors and, when recorded, database activity, plans,
 * PostgreSQL counters and the CPU profile of each relay run.
 *
 * @example
 * printRelay([await runRelayBench({ engine: 'pglite', quick: true })]);
 */
export function printRelay(results: readonly RelayBenchResult[]): void {
  if (results.length === 0) return;
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

  console.log('\nContext (same workload on this machine, measured by the product owner)');
  console.log(
    table(
      ['reference', 'msgs/s', 'p99 ms', ...results.flatMap((r) => [`${r.engine} thrpt`, `${r.engine} p99`])],
      RELAY_ANCHORS.map((a) => [
        `${a.name}${a.durable ? '' : ' (not durable)'}`,
        num(a.messagesPerSecond),
        String(a.p99Ms),
        ...results.flatMap((r) => {
          const c = r.anchors.find((x) => x.name === a.name)!;
          return [ratio(c.throughputRatio), ratio(c.p99Ratio)];
        }),
      ]),
    ),
  );
  console.log('(ratios are ours ÷ reference: throughput higher is better, p99 lower is better)');
  for (const r of results.filter((x) => x.engine === RELAY_TARGET.engine)) {
    console.log(
      'Target ≥ %s msgs/s durable on PostgreSQL with p99 ≤ %s ms: %s (%s msgs/s = %s of target, p99 %s ms)',
      num(RELAY_TARGET.messagesPerSecond),
      RELAY_TARGET.p99Ms,
      r.target.met ? 'MET' : 'NOT MET',
      num(r.messagesPerSecond),
      ratio(r.target.throughputRatio),
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

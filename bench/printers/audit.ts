/** Console report of the audit section (bench/audit.ts). */
import type { AuditBenchResult } from '../audit.js';
import { ms, num, ratio, table } from './format.js';

/**
 * Commitments accepted, CPU, evidence timings and sizes, anchors, profile and notes per engine.
 *
 * @example
 * printAudit(await runAuditBench({ quick: true }));
 */
export function printAudit(r: AuditBenchResult): void {
  for (const s of r.skipped) console.log(`\naudit/${s.engine}: skipped — ${s.reason}`);
  if (r.results.length === 0) return;
  const c = r.results[0]!.config;
  console.log(
    '\nAudit log: signed commitments accepted end to end (%s → an answer carrying the audit-log index, i.e. durable and sequenced; %s in flight, %s customers, %s B requests, clients %s, routing %s)',
    c.transport === 'ws' ? 'WebSocket submit frames, as the SDK sends online,' : 'HTTP POST /v1/messages',
    c.concurrency,
    c.customers,
    num(r.results[0]!.submit.requestBytes.mean),
    c.clients,
    c.routing ? 'on' : 'off',
  );
  console.log(
    table(
      ['engine', 'mode', 'commitments/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'all sequenced', 'checkpoints', 'server CPU/commitment', 'failures'],
      r.results.map((e) => [
        e.engine,
        r.quick ? 'quick' : 'full',
        num(e.submit.commitmentsPerSecond),
        ms(e.submit.latencyMs.p50),
        ms(e.submit.latencyMs.p90),
        ms(e.submit.latencyMs.p99),
        ms(e.submit.latencyMs.p999),
        ms(e.submit.latencyMs.max),
        `${num(e.submit.accepted)} in ${e.submit.sequencedSeconds.toFixed(2)} s (${num(e.submit.sequencedPerSecond)}/s)`,
        `${num(e.submit.checkpoints)} (${e.submit.entriesPerCheckpoint} each)`,
        `${e.submit.serverCpuMsPerCommitment} ms`,
        String(e.submit.failures + e.submit.duplicates),
      ]),
    ),
  );
  console.log('(latencies in ms per submit; "all sequenced" = first measured submit → the published checkpoint covers every accepted commitment)');
  console.log(
    table(
      ['engine', 'server proc', 'replay client', 'postgres', 'other procs', `machine (${r.results[0]!.submit.cpu.cores} cores)`],
      r.results.map((e) => {
        const c = e.submit.cpu;
        return [e.engine, `${c.server} cores`, e.config.clients === 'child' ? `${c.client} cores` : 'inline', e.engine === 'postgres' ? `${c.postgres} cores` : '—', `${c.other} cores`, `${c.machine} cores`];
      }),
    ),
  );
  console.log('\nEvidence per message (export = Device.exportEvidence; endpoint = GET /v1/audit/messages/:id/evidence; verify = verifyEvidenceBundle, offline)');
  console.log(
    table(
      ['engine', 'receipts', 'messages', 'tree size', 'export p50/p99 ms', 'endpoint p50/p99 ms', 'verify p50/p99 ms', 'bundle bytes p50 (min–max)'],
      r.results.flatMap((e) =>
        e.evidence.map((v) => [
          e.engine,
          String(v.receipts),
          String(v.messages),
          num(v.treeSize),
          `${ms(v.exportMs.p50)}/${ms(v.exportMs.p99)}`,
          `${ms(v.endpointMs.p50)}/${ms(v.endpointMs.p99)}`,
          `${ms(v.verifyMs.p50)}/${ms(v.verifyMs.p99)}`,
          `${num(v.bundleBytes.p50)} (${num(v.bundleBytes.min)}–${num(v.bundleBytes.max)})`,
        ]),
      ),
    ),
  );
  console.log(`\nAnchors (entries/s sequenced): ${r.anchors.map((a) => `${a.name} ~${num(a.entriesPerSecond)}/s`).join('; ')}`);
  for (const e of r.results) {
    console.log(`${e.engine}: sequenced commitments/s ÷ anchor: ${e.anchors.map((a) => `${a.name} ${ratio(a.ratio)}`).join(', ')}`);
  }
  for (const e of r.results) {
    if (e.profile) {
      console.log(`\nServer main-thread CPU profile (${e.engine}, measured submissions; ${e.profile.path}): ${e.profile.totalMs} ms sampled, idle ${e.profile.idlePercent}%, GC ${e.profile.gcPercent}%`);
      console.log(table(['inclusive', '%', 'ms'], e.profile.inclusive.map((x) => [x.name, x.percent.toFixed(1), num(x.ms)])));
    }
    for (const n of e.notes) console.log(`note (audit/${e.engine}): ${n}`);
    for (const s of e.submit.errorSamples) console.log(`error sample (audit/${e.engine}): ${s}`);
  }
}

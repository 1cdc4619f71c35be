/** Console report of the tlog section (bench/tlog.ts). */
import type { TlogBenchResult } from '../tlog.js';
import { ms, num, ratio, table } from './format.js';

/**
 * Append and sequencing rates, proof figures at each tree size, anchors and target.
 *
 * @example
 * printTlog(await runTlogBench({ quick: true }));
 */
export function printTlog(r: TlogBenchResult): void {
  if (r.results.length === 0) return;
  console.log('\nTransparency log (durable; %s-byte entries, batches of up to %s, a signed checkpoint per batch)', r.results[0]!.entryBytes, r.results[0]!.batchSize);
  const tp = (t: { entriesPerSecond: number; batches: number; entries: number; processCores: number }) => `${num(t.entriesPerSecond)}/s (${num(t.entries)} in ${num(t.batches)} batches, ${t.processCores} cores)`;
  console.log(
    table(
      ['engine', 'appends, one per commit', 'appends, 100 per tx', 'sequencing a backlog', 'batch p50/p99 ms'],
      r.results.map((e) => [e.engine, tp(e.appendSingle), tp(e.appendBatched), tp(e.sequencing), `${ms(e.sequencing.batchMs.p50)}/${ms(e.sequencing.batchMs.p99)}`]),
    ),
  );
  console.log(
    table(
      ['engine', 'tree size', 'build', 'inclusion proof p50/p99 ms', 'verify p50 µs', 'proof bytes', 'consistency p50 ms', 'full tile read p50 ms'],
      r.results.flatMap((e) =>
        e.proofs.map((p) => [
          e.engine,
          num(p.treeSize),
          `${p.buildSeconds} s (${num(p.buildEntriesPerSecond)}/s)`,
          `${ms(p.inclusionProofMs.p50)}/${ms(p.inclusionProofMs.p99)}`,
          ms(p.verifyInclusionUs.p50),
          `${p.proofBytes.mean} (max ${p.proofBytes.max})`,
          ms(p.consistencyProofMs.p50),
          ms(p.fullTileReadMs.p50),
        ]),
      ),
    ),
  );
  console.log(`Anchors: ${r.anchors.map((a) => `${a.name} ~${num(a.entriesPerSecond)}/s`).join('; ')}`);
  for (const e of r.results) {
    console.log(`${e.engine}: best append rate ÷ anchor: ${e.anchors.map((a) => `${a.name} ${ratio(a.ratio)}`).join(', ')}`);
    if (e.target) console.log(`Target ≥ ${num(r.target.entriesPerSecond)} entries/s on PostgreSQL: ${e.target.met ? 'MET' : 'NOT MET'} (${ratio(e.target.ratio)})`);
    for (const n of e.notes) console.log(`note (${e.engine}): ${n}`);
  }
  for (const s of r.skipped) console.log(`tlog/${s.engine}: skipped — ${s.reason}`);
}

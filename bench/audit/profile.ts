/**
 * The audit benchmark's CPU profile summary: inclusive time of the functions on the
 * audited-submit path (commitment checks, sequencing, checkpoint signing, session check,
 * driver), each counted once per sample.
 */
import { summarizeProfile, type CpuProfile } from '../cpu-profile.js';
import type { AuditProfile } from './types.js';

type ProfileFrame = CpuProfile['nodes'][number]['callFrame'];

/** Functions whose inclusive time says where an audited submission spends the server's CPU. */
const AUDIT_PATH: readonly { label: string; test: (f: ProfileFrame) => boolean }[] = [
  { label: 'AuditService.prepare (commitment checks)', test: (f) => f.functionName === 'prepare' && f.url.endsWith('audit/audit-service.ts') },
  { label: 'verifyCommitmentSignature (Ed25519 verify)', test: (f) => f.functionName === 'verifyCommitmentSignature' || f.functionName === 'verifyEd25519Fast' },
  { label: '@noble/curves (all uses)', test: (f) => f.url.includes('/@noble/curves/') },
  { label: 'Relay.flushAudited (envelope + commitment + sequenced entry tx)', test: (f) => f.functionName === 'flushAudited' },
  { label: 'sequenceDirect (entries sequenced in the appending tx)', test: (f) => f.functionName === 'sequenceDirect' || f.functionName === 'sequenceDirectNow' },
  { label: 'CommitmentFactsLoader (batched commitment-check query)', test: (f) => f.url.endsWith('audit/facts-loader.ts') },
  { label: 'sequenceBatch (tlog sequencing tx)', test: (f) => f.functionName === 'sequenceBatch' },
  { label: 'signNote (checkpoint signature)', test: (f) => f.functionName === 'signNote' },
  { label: 'fastify (routing, hooks, reply)', test: (f) => f.url.includes('/fastify/') || f.url.includes('/find-my-way/') },
  { label: 'jose (session token verify)', test: (f) => f.url.includes('/jose/') },
  { label: 'typebox Check (schema validation)', test: (f) => f.functionName === 'Check' && f.url.includes('typebox') },
  { label: 'pg driver', test: (f) => f.url.includes('/pg/lib/') || f.url.includes('/pg-protocol/') || f.url.includes('/pg-pool/') },
  { label: 'PGlite client (worker messaging)', test: (f) => f.url.endsWith('storage/pglite.ts') },
  { label: 'JSON.parse (builtin)', test: (f) => f.functionName === 'parse' && f.url === '' },
  { label: 'JSON.stringify (builtin)', test: (f) => f.functionName === 'stringify' && f.url === '' },
];

/**
 * Where the server's main thread spent the profiled phase, by audit-path function.
 *
 * @example
 * const profile = auditProfile(await profiler.stop(path), path);
 */
export function auditProfile(profile: CpuProfile, path: string): AuditProfile {
  const base = summarizeProfile(profile, 15);
  const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0));
  let totalUs = 0;
  for (const v of selfUs.values()) totalUs += v;
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const credited = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      for (const m of AUDIT_PATH) {
        if (!credited.has(m.label) && m.test(frame)) {
          credited.add(m.label);
          inclusive.set(m.label, (inclusive.get(m.label) ?? 0) + us);
        }
      }
    }
  }
  return {
    path,
    totalMs: base.totalMs,
    idlePercent: base.idlePercent,
    gcPercent: base.gcPercent,
    inclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, percent: Math.round((us / Math.max(1, totalUs)) * 1000) / 10, ms: Math.round(us / 1000) })),
    selfByFunction: base.selfByFunction.map((r) => ({ name: r.name, percent: r.percent, ms: r.ms })),
  };
}

/**
 * CPU profiling of the server's main thread during a benchmark's measured phase
 * (V8 sampling profiler through `node:inspector`), and a summary of a
 * `.cpuprofile`: self time by function, by package/file, and inclusive time of
 * the functions that matter on the relay path.
 *
 * Summarize an existing profile: `npx tsx bench/cpu-profile.ts <file.cpuprofile> [top]`.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
/** A V8 `.cpuprofile` (the parts the summary reads). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Starts the V8 sampler on this thread; `stop()` writes the profile to `path`. */
export async function startProfiling(samplingIntervalUs = 200): Promise<{ stop(path: string): Promise<CpuProfile> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  await session.post('Profiler.start');
  return {
    async stop(path: string) {
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      await writeFile(path, JSON.stringify(profile));
      return profile;
    },
  };
}

/** One row of a profile summary. */
export interface ProfileRow {
  readonly name: string;
  readonly percent: number;
  readonly ms: number;
}

/** Where a profiled thread spent its time. */
export interface ProfileSummary {
  readonly totalMs: number;
  /** Share of samples in (idle) — the event loop waiting for I/O. */
  readonly idlePercent: number;
  readonly gcPercent: number;
  readonly selfByFunction: readonly ProfileRow[];
  readonly selfByModule: readonly ProfileRow[];
  /** Inclusive time of named relay-path functions (a function counted once per sample). */
  readonly inclusive: readonly ProfileRow[];
}

/** Where a frame's code lives: package name, or a repo path for our own code. */
function moduleOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)' || functionName === '(program)' || functionName === '(root)') return functionName;
    return '(native/builtin)';
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const pk = url.indexOf('/packages/');
  if (pk >= 0) return url.slice(pk + 1).replace(/^file:\/\//, '');
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\//, '');
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const pk = url.indexOf('/packages/');
  if (pk >= 0) return url.slice(pk + '/packages/'.length);
  return url.replace(/^file:\/\//, '');
}

/** Functions whose inclusive time says where the relay spends its CPU. */
const INCLUSIVE: readonly { label: string; test: (f: CallFrame) => boolean }[] = [
  { label: 'JSON.parse (builtin)', test: (f) => f.functionName === 'parse' && f.url === '' },
  { label: 'JSON.stringify (builtin)', test: (f) => f.functionName === 'stringify' && f.url === '' },
  { label: 'gateway: socket message handler', test: (f) => f.url.endsWith('ws/gateway.ts') && f.functionName === '' },
  { label: 'typebox Check (frame validation)', test: (f) => f.functionName === 'Check' && f.url.includes('typebox') },
  { label: 'Relay.submit', test: (f) => f.functionName === 'submit' && f.url.endsWith('relay/relay.ts') },
  { label: 'inspectMessage (MLS decode)', test: (f) => f.functionName === 'inspectMessage' },
  { label: 'fromBase64', test: (f) => f.functionName === 'fromBase64' },
  { label: 'toBase64', test: (f) => f.functionName === 'toBase64' },
  { label: 'Relay.flushAppends', test: (f) => f.functionName === 'flushAppends' },
  { label: 'Relay.flushAcks', test: (f) => f.functionName === 'flushAcks' },
  { label: 'insertEnvelopes', test: (f) => f.functionName === 'insertEnvelopes' },
  { label: 'classifyAcks', test: (f) => f.functionName === 'classifyAcks' },
  { label: 'acknowledge', test: (f) => f.functionName === 'acknowledge' },
  { label: 'InProcessNotifier.notifyEnvelope', test: (f) => f.functionName === 'notifyEnvelope' },
  { label: 'DeviceConnection.push', test: (f) => f.functionName === 'push' && f.url.endsWith('ws/connection.ts') },
  { label: 'DeviceConnection.acknowledged', test: (f) => f.functionName === 'acknowledged' && f.url.endsWith('ws/connection.ts') },
  { label: 'ws: WebSocket.send', test: (f) => f.functionName === 'send' && f.url.includes('/ws/lib/websocket.js') },
  { label: 'ws: Receiver (frame decode)', test: (f) => f.url.includes('/ws/lib/receiver.js') },
  { label: 'ws: Sender (frame encode/write)', test: (f) => f.url.includes('/ws/lib/sender.js') },
  { label: 'pg: Client (query/results)', test: (f) => f.url.includes('/pg/lib/') },
  { label: 'pg-protocol (wire parse/serialize)', test: (f) => f.url.includes('/pg-protocol/') },
  { label: 'pg PostgresDatabase wrapper (bindParams…)', test: (f) => f.url.endsWith('storage/postgres.ts') },
  { label: 'PGlite client (worker messaging)', test: (f) => f.url.endsWith('storage/pglite.ts') },
  { label: 'jose/session verify', test: (f) => f.url.includes('/jose/') },
  { label: 'pino (logging)', test: (f) => f.url.includes('/pino') },
];

/** Self time by function and by module, idle and GC shares, and inclusive time of the relay-path functions. */
export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample from timeDeltas (falls back to hitCount × mean interval).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0) {
    for (let i = 0; i < samples.length; i++) {
      const dt = deltas[i + 1] ?? deltas[i] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, dt));
    }
  } else {
    const hits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const per = hits > 0 ? (profile.endTime - profile.startTime) / hits : 0;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  let totalUs = 0;
  for (const v of selfUs.values()) totalUs += v;
  const pct = (us: number) => Math.round((us / totalUs) * 1000) / 10;
  const row = (name: string, us: number): ProfileRow => ({ name, percent: pct(us), ms: Math.round(us / 1000) });

  const fnSelf = new Map<string, number>();
  const modSelf = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = f.url === '' ? f.functionName || '(anonymous)' : `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
    const m = moduleOf(f.url, f.functionName);
    modSelf.set(m, (modSelf.get(m) ?? 0) + us);
    if (f.functionName === '(idle)') idle += us;
    if (f.functionName === '(garbage collector)') gc += us;
  }

  // Inclusive: for each sample, walk up the stack once and credit each matched label once.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const credited = new Set<string>();
    let cur: number | undefined = id;
    while (cur !== undefined) {
      const f = byId.get(cur)!.callFrame;
      for (const m of INCLUSIVE) {
        if (!credited.has(m.label) && m.test(f)) {
          credited.add(m.label);
          inclusive.set(m.label, (inclusive.get(m.label) ?? 0) + us);
        }
      }
      cur = parent.get(cur);
    }
  }

  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: Math.round(totalUs / 1000),
    idlePercent: pct(idle),
    gcPercent: pct(gc),
    selfByFunction: sorted(fnSelf).slice(0, top).map(([k, v]) => row(k, v)),
    selfByModule: sorted(modSelf).slice(0, top).map(([k, v]) => row(k, v)),
    inclusive: sorted(inclusive).map(([k, v]) => row(k, v)),
  };
}

/** The summary as indented text lines for the console. */
export function formatSummary(s: ProfileSummary): string {
  const lines: string[] = [];
  lines.push(`main-thread profile: ${s.totalMs} ms sampled, idle ${s.idlePercent}%, GC ${s.gcPercent}%`);
  const block = (title: string, rows: readonly ProfileRow[]) => {
    lines.push(title);
    for (const r of rows) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${String(r.ms).padStart(6)} ms  ${r.name}`);
  };
  block('self time by module:', s.selfByModule);
  block('self time by function:', s.selfByFunction);
  block('inclusive time of relay-path functions:', s.inclusive);
  return lines.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: npx tsx bench/cpu-profile.ts <file.cpuprofile> [top]');
    process.exitCode = 2;
  } else {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    console.log(formatSummary(summarizeProfile(profile, Number(process.argv[3] ?? 30))));
  }
}

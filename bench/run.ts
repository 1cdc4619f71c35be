/**
 * `npm run bench -- [relay|tlog|audit|routing|mls|sdk|gateway|signer|backup|media|startup|all] [--quick] [--engine pglite|postgres|both] [--suite classic|xwing]`
 * (`--suite`: the relay pairs' conversations' MLS suite, default classic; relay only)
 * (`gateway`: bench/gateway.ts, PostgreSQL only: 1 and 2 `parley gateway` instances end to end; not part of `all`)
 * (`signer`: bench/signer.ts, Ed25519 checkpoint signing with the key-file vs the PKCS#11 signer on SoftHSM2; `backup`:
 * bench/backup.ts, encrypted backups of 10,000 messages; `media`: bench/media.ts, encrypted attachments: crypto MB/s vs raw
 * AES-GCM, upload/download MB/s through `parley serve` on each engine, peak RSS; none of them is part of `all`)
 *
 * Runs the relay throughput benchmark (bench/relay.ts) on PGlite and on
 * PostgreSQL (skipped with a note when 127.0.0.1:5432 does not answer), then its peers with
 * the same workload in the same run (bench/relay/peers.ts: mosquitto QoS 1 and NATS JetStream
 * with file storage, each skipped with a note when its binary is missing), the MLS
 * crypto benchmark (bench/mls-crypto.ts) and the SDK benchmark (bench/sdk.ts), and the
 * transparency-log benchmark (bench/tlog.ts), the
 * audit-log benchmark (bench/audit.ts) and the routing benchmark (bench/routing.ts) on both engines. Prints progress while running, then tables; writes
 * bench/results/<name>-<ISO date>.json and bench/results/latest.json.
 *
 * Extra flags (lib/options.ts): --clients child|inline (relay clients, the audit replay and the routing
 * hot-path clients in their own process, the default, or on the server's event loop), --instrument (record the server's
 * transactions and batch sizes), --pairs N, --messages N (measured deliveries; for
 * `audit`, measured commitment submissions; for `routing`, measured hot-path messages per configuration),
 * --postgres-url URL, --wait-quiet SECONDS (longest wait for an idle machine before
 * each relay, audit and routing run; default 60, 0 to skip — the machine may be shared), --profile
 * (V8 CPU profile of the server's main thread over the measured phase of relay and
 * audit, written next to the JSON results and summarized in the output), --tick-ms N
 * (router tick of the routing section's server; default the server's), --peers all|none|mqtt,jetstream
 * (the relay section's measured peers; default all).
 *
 * Every percentile in the results is nearest-rank (lib/stats.ts); the JSON report says so
 * in its `percentile` field.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { RELAY_ANCHORS, RELAY_TARGET, relayMessageCounts, runRelayBench, type RelayBenchResult, type RelayPeersResult } from './relay.js';
import { runTlogBench, type TlogBenchResult } from './tlog.js';
import { runAuditBench, type AuditBenchResult } from './audit.js';
import { runRoutingBench, type RoutingBenchResult } from './routing.js';
// `cluster` (bench/cluster.ts) is not part of `all`: its full run takes about 6 minutes.
import { runClusterBench, type ClusterBenchResult } from './cluster.js';
import type { MlsCryptoBenchResult } from './mls-crypto.js';
import type { MediaBenchResult } from './media.js';
import { postgresReachable, type Engine } from './lib/engines.js';
import { gitInfo, machineInfo, waitForQuiet } from './lib/machine.js';
import { parseArgs, type Args } from './lib/options.js';
import { PERCENTILE_DEFINITION } from './lib/stats.js';
import { printAudit } from './printers/audit.js';
import { printCluster } from './printers/cluster.js';
import { printGeneric } from './printers/generic.js';
import { printMedia } from './printers/media.js';
import { printStartup } from './printers/startup.js';
import type { StartupBenchResult } from './startup.js';
import { printMlsSuites } from './printers/mls-suites.js';
import { printRelay } from './printers/relay.js';
import { printRouting } from './printers/routing.js';
import { printTlog } from './printers/tlog.js';

const benchDir = dirname(fileURLToPath(import.meta.url));

const started = performance.now();
function progress(line: string): void {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
}

interface SectionOutcome {
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  result?: unknown;
  seconds?: number;
}

const secondsSince = (t0: number) => Math.round((performance.now() - t0) / 100) / 10;
const reasonOf = (error: unknown) => (error instanceof Error ? (error.stack ?? error.message) : String(error));

/**
 * Runs one section and records its outcome: `failed` with the reason `failure` gives when
 * the section counted failures, or with the error when it threw.
 */
async function runSection<R>(name: string, outcomes: SectionOutcome[], run: () => Promise<R>, failure?: (result: R) => string | undefined): Promise<void> {
  const t0 = performance.now();
  try {
    const result = await run();
    const seconds = secondsSince(t0);
    const reason = failure?.(result);
    if (reason !== undefined) {
      progress(`${name}: FAILED ${reason}`);
      outcomes.push({ name, status: 'failed', reason, result, seconds });
    } else {
      outcomes.push({ name, status: 'ok', result, seconds });
    }
  } catch (error) {
    const reason = reasonOf(error);
    progress(`${name}: FAILED ${reason}`);
    outcomes.push({ name, status: 'failed', reason });
  }
}

/** The runner's wait for an idle machine before an engine's run (nothing with --wait-quiet 0). */
function beforeEngine(args: Args, section: string): { beforeEngine?: (engine: Engine) => Promise<void> } {
  if (args.waitQuietMs <= 0) return {};
  return {
    beforeEngine: async (engine) => {
      const q = await waitForQuiet(args.waitQuietMs, { log: progress });
      if (q.busy >= 0.1) progress(`${section}/${engine}: machine still ${Math.round(q.busy * 100)}% busy after ${Math.round(q.waitedMs / 1000)} s; running anyway`);
    },
  };
}

async function runRelaySection(args: Args, resultsDir: string, stamp: string, outcomes: SectionOutcome[], relayResults: RelayBenchResult[]): Promise<void> {
  for (const engine of args.engines) {
    const name = `relay/${engine}`;
    if (engine === 'postgres') {
      const reach = await postgresReachable(args.postgresUrl);
      if (!reach.ok) {
        progress(`${name}: skipped (${reach.reason})`);
        outcomes.push({ name, status: 'skipped', reason: reach.reason });
        continue;
      }
    }
    await beforeEngine(args, 'relay').beforeEngine?.(engine);
    await runSection(name, outcomes, async () => {
      const result = await runRelayBench({
        engine,
        quick: args.quick,
        suite: args.suite,
        onProgress: progress,
        clients: args.clients,
        instrument: args.instrument,
        ...(args.profile ? { profilePath: join(resultsDir, `relay-${engine}${args.quick ? '-quick' : ''}-${stamp}.cpuprofile`) } : {}),
        databaseUrl: args.postgresUrl,
        ...(args.pairs !== undefined ? { pairs: args.pairs } : {}),
        ...(args.messages !== undefined ? { messages: args.messages } : {}),
      });
      relayResults.push(result);
      progress(`${name}: ${result.messagesPerSecond} msgs/s, e2e p99 ${result.e2eMs.p99} ms`);
      return result;
    });
  }
  if (args.peers.length > 0) await runRelayPeersSection(args, outcomes, relayResults);
}

/**
 * The relay section's peers (bench/relay/peers.ts), after the Parley engines and with their
 * workload; each engine's result then carries its ratios against them.
 */
async function runRelayPeersSection(args: Args, outcomes: SectionOutcome[], relayResults: RelayBenchResult[]): Promise<void> {
  const { compareWithPeers, runRelayPeers } = await import('./relay/peers.js');
  const first = relayResults[0];
  const pairs = first?.config.pairs ?? args.pairs ?? 50;
  const windowPerSender = first?.config.windowPerSender ?? 10;
  const counts = first ? { warmup: first.config.warmupMessages, measured: first.config.measuredMessages } : relayMessageCounts({ pairs, windowPerSender, messages: args.messages, quick: args.quick });
  await runSection(
    'relay/peers',
    outcomes,
    async () => {
      const peers = await runRelayPeers({
        peers: args.peers,
        pairs,
        windowPerSender,
        payloadBytes: first?.config.payloadBytes.mean ?? 1024,
        warmupMessages: counts.warmup,
        measuredMessages: counts.measured,
        quick: args.quick,
        onProgress: progress,
        ...(args.waitQuietMs > 0
          ? {
              beforeEach: async (peer: string) => {
                const q = await waitForQuiet(args.waitQuietMs, { log: progress });
                if (q.busy >= 0.1) progress(`relay/peers/${peer}: machine still ${Math.round(q.busy * 100)}% busy after ${Math.round(q.waitedMs / 1000)} s; running anyway`);
              },
            }
          : {}),
      });
      const comparisons = compareWithPeers(relayResults, peers.runs);
      // Each engine's result (and its outcome in the JSON) carries its ratios against the peers.
      for (const [i, r] of relayResults.entries()) {
        const withPeers: RelayBenchResult = { ...r, peers: comparisons.filter((c) => c.engine === r.engine) };
        relayResults[i] = withPeers;
        const outcome = outcomes.find((o) => o.name === `relay/${r.engine}`);
        if (outcome) outcome.result = withPeers;
      }
      return { ...peers, comparisons };
    },
    (r) => (r.failures > 0 ? `${r.failures} peer runs failed or had errors (see runs[].errorSamples and skipped)` : undefined),
  );
}

/** The MLS and SDK sections: imported only when they run (they load ts-mls providers and an embedded server). */
const LIBRARY_SECTIONS: Record<'mls' | 'sdk', { file: string; run: (o: { quick: boolean; onProgress: (line: string) => void }) => Promise<unknown> }> = {
  mls: { file: 'mls-crypto.ts', run: async (o) => (await import('./mls-crypto.js')).runMlsCryptoBench({ quick: o.quick }) },
  sdk: { file: 'sdk.ts', run: async (o) => (await import('./sdk.js')).runSdkBench(o) },
};

async function runLibrarySection(args: Args, section: keyof typeof LIBRARY_SECTIONS, outcomes: SectionOutcome[]): Promise<void> {
  const { file, run } = LIBRARY_SECTIONS[section];
  const t0 = performance.now();
  progress(`${section}: running bench/${file}${args.quick ? ' (quick)' : ''}`);
  await runSection(section, outcomes, () => run({ quick: args.quick, onProgress: (line) => progress(line.startsWith(`${section}:`) ? line : `${section}: ${line}`) }));
  if (outcomes.at(-1)?.status === 'ok') progress(`${section}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

function printReport(relayResults: readonly RelayBenchResult[], outcomes: readonly SectionOutcome[]): void {
  printRelay(relayResults, outcomes.find((o) => o.name === 'relay/peers')?.result as RelayPeersResult | undefined);
  for (const o of outcomes) {
    if (o.status === 'ok' && o.name === 'tlog') printTlog(o.result as TlogBenchResult);
    else if (o.name === 'audit' && o.result !== undefined) printAudit(o.result as AuditBenchResult);
    else if (o.name === 'routing' && o.result !== undefined) printRouting(o.result as RoutingBenchResult);
    else if (o.name === 'cluster' && o.result !== undefined) printCluster(o.result as ClusterBenchResult);
    else if (o.name === 'media' && o.status === 'ok') printMedia(o.result as MediaBenchResult);
    else if (o.name === 'startup' && o.status === 'ok') printStartup(o.result as StartupBenchResult);
    else if (o.status === 'ok' && !o.name.startsWith('relay/')) printGeneric(o.name === 'mls' ? 'MLS crypto (bench/mls-crypto.ts)' : o.name === 'bundle-size' ? 'Browser bundle (bench/bundle-size.ts)' : o.name === 'gateway' ? 'Gateway end to end (bench/gateway.ts)' : o.name === 'signer' ? 'Checkpoint signing: key file vs PKCS#11 (bench/signer.ts)' : o.name === 'backup' ? 'Encrypted backups (bench/backup.ts)' : 'SDK (bench/sdk.ts)', o.result);
    if (o.status === 'ok' && o.name === 'mls' && o.result !== undefined) {
      const suites = (o.result as MlsCryptoBenchResult).suites;
      if (suites !== undefined) printMlsSuites(suites);
    }
  }
  const notOk = outcomes.filter((o) => o.status !== 'ok');
  if (notOk.length > 0) {
    console.log('');
    for (const o of notOk) console.log(`${o.name}: ${o.status} — ${(o.reason ?? '').split('\n')[0]}`);
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const machine = machineInfo();
  const git = gitInfo(join(benchDir, '..'));
  progress(`bench ${args.name}${args.quick ? ' --quick' : ''} on node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemGiB} GiB`);

  const resultsDir = join(benchDir, 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/:/g, '-');
  const outcomes: SectionOutcome[] = [];
  const relayResults: RelayBenchResult[] = [];
  const common = { quick: args.quick, engines: args.engines, databaseUrl: args.postgresUrl, onProgress: progress };

  if (args.sections.includes('relay')) await runRelaySection(args, resultsDir, stamp, outcomes, relayResults);
  if (args.sections.includes('tlog')) await runSection('tlog', outcomes, () => runTlogBench(common));
  if (args.sections.includes('audit')) {
    await runSection(
      'audit',
      outcomes,
      () =>
        runAuditBench({
          ...common,
          clients: args.clients,
          transport: args.transport,
          ...(args.messages !== undefined ? { commitments: args.messages } : {}),
          ...(args.profile ? { profileDir: resultsDir } : {}),
          ...beforeEngine(args, 'audit'),
        }),
      (r) => (r.failures > 0 ? `${r.failures} commitment submissions or evidence checks failed (see errorSamples and notes)` : undefined),
    );
  }
  if (args.sections.includes('routing')) {
    await runSection(
      'routing',
      outcomes,
      () =>
        runRoutingBench({
          ...common,
          clients: args.clients,
          ...(args.messages !== undefined ? { messages: args.messages } : {}),
          ...(args.tickMs !== undefined ? { tickMs: args.tickMs } : {}),
          ...beforeEngine(args, 'routing'),
        }),
      (r) => (r.failures > 0 ? `${r.failures} hot-path sends, fallback or web messages failed or took the wrong path (see notes and errorSamples)` : undefined),
    );
  }
  if (args.sections.includes('cluster')) {
    await runSection(
      'cluster',
      outcomes,
      () => runClusterBench({ quick: args.quick, databaseUrl: args.postgresUrl, waitQuietMs: args.waitQuietMs, onProgress: progress, ...args.cluster }),
      (r) => (r.failures > 0 ? `${r.failures} system runs failed or had errors (see skipped, notes and errorSamples)` : undefined),
    );
  }
  if (args.sections.includes('gateway')) {
    const reach = await postgresReachable(args.postgresUrl);
    if (!reach.ok) {
      progress(`gateway: skipped (${reach.reason}; two instances share one PostgreSQL)`);
      outcomes.push({ name: 'gateway', status: 'skipped', reason: reach.reason });
    } else {
      await beforeEngine(args, 'gateway').beforeEngine?.('postgres');
      const { runGatewayBench } = await import('./gateway.js');
      await runSection(
        'gateway',
        outcomes,
        () => runGatewayBench({ databaseUrl: args.postgresUrl, quick: args.quick, onProgress: progress, ...(args.messages !== undefined ? { messages: args.messages } : {}) }),
        (r) => (r.runs.some((run) => run.failures > 0) ? 'some messages were refused or never decrypted (see runs[].failures)' : undefined),
      );
    }
  }
  if (args.sections.includes('signer')) {
    const { runSignerBench } = await import('./signer.js');
    await runSection('signer', outcomes, () => runSignerBench({ quick: args.quick, onProgress: progress, ...(args.messages !== undefined ? { signatures: args.messages } : {}) }));
  }
  if (args.sections.includes('backup')) {
    const { runBackupBench } = await import('./backup.js');
    await runSection('backup', outcomes, () => runBackupBench({ quick: args.quick, onProgress: progress, ...(args.messages !== undefined ? { messages: args.messages } : {}) }));
  }
  if (args.sections.includes('startup')) {
    const { runStartupBench } = await import('./startup.js');
    await runSection('startup', outcomes, () => runStartupBench({ waitQuietMs: args.waitQuietMs, onProgress: progress, ...(args.profile ? { profileDir: resultsDir } : {}) }));
  }
  if (args.sections.includes('media')) {
    const { runMediaBench } = await import('./media.js');
    await runSection('media', outcomes, () => runMediaBench({ quick: args.quick, engines: args.engines, databaseUrl: args.postgresUrl, waitQuietMs: args.waitQuietMs, onProgress: progress }));
  }
  for (const section of ['mls', 'sdk'] as const) {
    if (args.sections.includes(section)) await runLibrarySection(args, section, outcomes);
  }
  if (args.name === 'bundle-size') await runSection('bundle-size', outcomes, async () => (await import('./bundle-size.js')).runBundleSizeBench());

  printReport(relayResults, outcomes);

  const finishedAt = new Date();
  const report = {
    name: args.name,
    quick: args.quick,
    argv: process.argv.slice(2),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    machine,
    git,
    percentile: PERCENTILE_DEFINITION,
    context: {
      anchors: RELAY_ANCHORS,
      target: RELAY_TARGET,
      note: "anchors: reference figures from the issue (same relay workload measured by the product owner); the peers measured in this run are in results 'relay/peers' and each relay engine's `peers` ratios",
    },
    results: outcomes,
  };
  const file = join(resultsDir, `${args.name}${args.quick ? '-quick' : ''}-${stamp}.json`);
  const json = JSON.stringify(report, null, 2) + '\n';
  await writeFile(file, json);
  await writeFile(join(resultsDir, 'latest.json'), json);
  console.log(`\nresults: ${file} (and bench/results/latest.json)`);
  return outcomes.some((o) => o.status === 'failed') ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);

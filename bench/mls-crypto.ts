/**
 * MLS crypto-provider benchmark: ts-mls's default provider against Parley's node:crypto
 * and WebCrypto providers (the latter also with `digest: 'noble'`), on raw ts-mls calls
 * with the default suite
 * (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519).
 *
 * (a) 1:1 application messages: createApplicationMessage + processPrivateMessage pairs/s,
 *     1 KiB payload, after a warm-up; median over runs.
 * (b) Update commits: in a group of N members, the creator makes a commit with no
 *     proposals (a path update) and a joined member processes it; median milliseconds of
 *     each over runs. The group is built once per provider and size with a single commit
 *     adding N-1 KeyPackages (reported as `setupMs`); only the creator's and one
 *     joiner's states are kept.
 *
 * (c) Suites: the classic suite against X-Wing (MLS_256_XWING_AES256GCM_SHA512_Ed25519) on the
 *     node provider through Parley's MLS layer: sizes, KeyPackages/s, 1:1 pairs/s, commit
 *     times (bench/mls-suites.ts; its result is the `suites` field).
 *
 * Providers take turns run by run, so load from other processes hits them alike.
 *
 * Run: `npx tsx bench/mls-crypto.ts [--quick] [--providers=node,web] [--sizes=10,100] [--no-suites]`
 * (prints JSON). Quick mode: N = 10, 100.
 */
import { cpus, loadavg } from 'node:os';
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type CryptoProvider,
  type MLSMessage,
  type Proposal,
} from 'ts-mls';
import { nodeCryptoProvider } from '../packages/core/src/mls/crypto-provider.node.js';
import { createWebCryptoProvider, webCryptoProvider } from '../packages/core/src/mls/crypto-provider.web.js';
import { runStandalone } from './lib/entry.js';
import { quantile } from './lib/stats.js';
import { runMlsSuitesBench, type MlsSuitesBenchResult } from './mls-suites.js';

/** A crypto provider the benchmark compares. */
export type MlsProviderName = 'ts-mls default' | 'node' | 'web' | 'web (noble digest)';

/** 1:1 application messages: encrypt+decrypt pairs per second. */
export interface MessageBench {
  readonly payloadBytes: number;
  readonly pairsPerRun: number;
  /** Median over runs of encrypt+decrypt pairs per second (wall clock). */
  readonly pairsPerSecond: number;
  /**
   * The same from process CPU time (every thread: GC helpers, WebCrypto's thread pool).
   * Not inflated by waiting for a core on a loaded machine; inflated by background threads.
   */
  readonly pairsPerCpuSecond: number;
  readonly runs: readonly number[];
}

/** Update commits in a group of `members`. */
export interface CommitBench {
  readonly members: number;
  /** KeyPackages, the one add-commit, and the joiner's joinGroup. */
  readonly setupMs: number;
  /** Median ms for the creator's createCommit (no proposals: path update). */
  readonly createCommitMs: number;
  /** Median ms for the joiner's processPrivateMessage of that commit. */
  readonly processCommitMs: number;
  /** Fastest run of each: the closest to an unloaded machine. */
  readonly createCommitMinMs: number;
  readonly processCommitMinMs: number;
  /** Medians of process CPU time (all threads) for the same operations. */
  readonly createCommitCpuMs: number;
  readonly processCommitCpuMs: number;
  readonly runs: readonly CommitRun[];
}

/** One commit run's times. */
export interface CommitRun {
  readonly createMs: number;
  readonly processMs: number;
  readonly createCpuMs: number;
  readonly processCpuMs: number;
}

/** One provider's figures. */
export interface ProviderBench {
  readonly provider: MlsProviderName;
  readonly messages: MessageBench;
  readonly commits: readonly CommitBench[];
}

/**
 * Issue 18's MLS targets on this machine kind: 1:1 pairs/s, and an update commit at 100
 * members processed and created (the median over runs).
 */
export const MLS_TARGETS = { pairsPerSecond: 5000, process100Ms: 6, create100Ms: 30 } as const;

/** Every provider's figures, the speed-ups and the targets. */
export interface MlsCryptoBenchResult {
  readonly suite: CiphersuiteName;
  readonly quick: boolean;
  readonly runtime: string;
  /** Cores and 1-minute load average at the start and end: the machine may be shared. */
  readonly machine: { readonly cores: number; readonly loadAverageStart: number; readonly loadAverageEnd: number };
  readonly providers: readonly ProviderBench[];
  /** Per non-default provider: how many times faster than ts-mls's default (>1 is faster). */
  readonly speedupVsDefault: Readonly<
    Record<string, { readonly pairsPerSecond: number; readonly createCommit: Record<string, number>; readonly processCommit: Record<string, number> }>
  >;
  /** Classic vs X-Wing suite on the node provider (bench/mls-suites.ts); absent with `suites: false`. */
  readonly suites?: MlsSuitesBenchResult;
  /** The product owner's targets for the node provider ({@link MLS_TARGETS}). */
  readonly targets: {
    readonly nodePairsPerSecond: { readonly target: number; readonly measured: number; readonly met: boolean };
    readonly nodeProcess100MemberCommitMs: { readonly target: number; readonly measured: number | undefined; readonly met: boolean };
    readonly nodeCreate100MemberCommitMs: { readonly target: number; readonly measured: number | undefined; readonly met: boolean };
  };
}

const SUITE: CiphersuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const PROVIDERS: readonly { name: MlsProviderName; provider: CryptoProvider }[] = [
  { name: 'ts-mls default', provider: defaultCryptoProvider },
  { name: 'node', provider: nodeCryptoProvider },
  { name: 'web', provider: webCryptoProvider },
  // The web provider with @noble/hashes SHA-2 digests instead of subtle.digest.
  { name: 'web (noble digest)', provider: createWebCryptoProvider({ digest: 'noble' }) },
];

/** The median (nearest rank, lib/stats.ts); the run counts are odd, so it is the middle run. */
const median = (values: readonly number[]): number => quantile(values, 0.5);

const roundTo = (n: number, digits = 2): number => Number(n.toFixed(digits));
const PAYLOAD_BYTES = 1024;

/** Process CPU time in ms (user + system, every thread: includes WebCrypto's thread pool). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function privateMessageOf(message: MLSMessage): Extract<MLSMessage, { wireformat: 'mls_private_message' }>['privateMessage'] {
  if (message.wireformat !== 'mls_private_message') throw new Error(`expected a PrivateMessage, got ${message.wireformat}`);
  return message.privateMessage;
}

async function keyPackage(name: string, cs: CiphersuiteImpl) {
  const credential = { credentialType: 'basic' as const, identity: new TextEncoder().encode(name) };
  return generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], cs);
}

/** Creator + one joiner of a group of `members`, built with one add-commit. */
async function buildGroup(members: number, cs: CiphersuiteImpl): Promise<{ creator: ClientState; joiner: ClientState }> {
  const creatorKp = await keyPackage('member-0', cs);
  const creator = await createGroup(
    new TextEncoder().encode(`bench-${members}-${Date.now()}`),
    creatorKp.publicPackage,
    creatorKp.privatePackage,
    [],
    cs,
  );
  const joinerIndex = members - 1;
  const adds: Proposal[] = [];
  let joinerKp: Awaited<ReturnType<typeof keyPackage>> | undefined;
  for (let i = 1; i < members; i++) {
    const kp = await keyPackage(`member-${i}`, cs);
    if (i === joinerIndex) joinerKp = kp;
    adds.push({ proposalType: 'add', add: { keyPackage: kp.publicPackage } });
  }
  if (joinerKp === undefined) throw new Error('a group needs at least two members');
  const added = await createCommit({ state: creator, cipherSuite: cs }, { extraProposals: adds });
  if (added.welcome === undefined) throw new Error('add-commit produced no Welcome');
  const joiner = await joinGroup(
    added.welcome,
    joinerKp.publicPackage,
    joinerKp.privatePackage,
    emptyPskIndex,
    cs,
    added.newState.ratchetTree,
  );
  return { creator: added.newState, joiner };
}

/** A 1:1 group; `pair()` sends one application message from the creator to the joiner. */
async function messageSession(cs: CiphersuiteImpl): Promise<() => Promise<void>> {
  let { creator: alice, joiner: bob } = await buildGroup(2, cs);
  const payload = cs.rng.randomBytes(PAYLOAD_BYTES);
  return async () => {
    const sent = await createApplicationMessage(alice, payload, cs);
    alice = sent.newState;
    const received = await processPrivateMessage(bob, sent.privateMessage, emptyPskIndex, cs);
    if (received.kind !== 'applicationMessage' || received.message.length !== payload.length) {
      throw new Error('application message did not round-trip');
    }
    bob = received.newState;
  };
}

/** A group of `members`; `round()` makes one update commit and has the joiner process it. */
async function commitSession(members: number, cs: CiphersuiteImpl): Promise<{ setupMs: number; round: () => Promise<CommitRun> }> {
  const setupStart = performance.now();
  let { creator, joiner } = await buildGroup(members, cs);
  const setupMs = performance.now() - setupStart;
  const round = async (): Promise<CommitRun> => {
    const c0 = cpuMs();
    const t0 = performance.now();
    const committed = await createCommit({ state: creator, cipherSuite: cs });
    const t1 = performance.now();
    const c1 = cpuMs();
    const processed = await processPrivateMessage(joiner, privateMessageOf(committed.commit), emptyPskIndex, cs);
    const t2 = performance.now();
    const c2 = cpuMs();
    if (processed.kind !== 'newState' || processed.newState.groupContext.epoch !== committed.newState.groupContext.epoch) {
      throw new Error('joiner did not follow the commit');
    }
    creator = committed.newState;
    joiner = processed.newState;
    return { createMs: roundTo(t1 - t0), processMs: roundTo(t2 - t1), createCpuMs: roundTo(c1 - c0), processCpuMs: roundTo(c2 - c1) };
  };
  return { setupMs: roundTo(setupMs, 0), round };
}

/** Runs `step` for each item, rotating the starting item every run so that no provider always goes first. */
async function interleaved<T>(items: readonly T[], runs: number, step: (item: T, run: number) => Promise<void>): Promise<void> {
  for (let run = 0; run < runs; run++) {
    for (let k = 0; k < items.length; k++) await step(items[(run + k) % items.length]!, run);
  }
}

/**
 * Runs the benchmark for every provider.
 *
 * @example
 * const result = await runMlsCryptoBench({ quick: true })
 * console.log(result.targets)
 */
export async function runMlsCryptoBench(
  opts: { quick?: boolean; providers?: readonly MlsProviderName[]; sizes?: readonly number[]; suites?: boolean } = {},
): Promise<MlsCryptoBenchResult> {
  const quick = opts.quick === true;
  const loadAverageStart = roundTo(loadavg()[0] ?? 0);
  const sizes = opts.sizes ?? (quick ? [10, 100] : [10, 100, 1000]);
  const selected = PROVIDERS.filter((p) => opts.providers === undefined || opts.providers.includes(p.name));
  const subjects = await Promise.all(
    selected.map(async ({ name, provider }) => ({ name, cs: await provider.getCiphersuiteImpl(getCiphersuiteFromName(SUITE)) })),
  );
  // The providers take turns run by run (rotating who goes first), so load from other
  // processes on a shared machine hits them alike; each figure is a median over runs.

  // (a) 1:1 application messages.
  const pairsPerRun = quick ? 300 : 1000;
  const messageRuns = new Map<MlsProviderName, { wall: number[]; cpu: number[] }>();
  const sessions = new Map<MlsProviderName, () => Promise<void>>();
  for (const { name, cs } of subjects) {
    const pair = await messageSession(cs);
    for (let i = 0; i < (quick ? 200 : 500); i++) await pair(); // warm-up: JIT, key caches
    sessions.set(name, pair);
    messageRuns.set(name, { wall: [], cpu: [] });
  }
  await interleaved(subjects, quick ? 3 : 7, async ({ name }) => {
    const pair = sessions.get(name)!;
    const start = performance.now();
    const cpuStart = cpuMs();
    for (let i = 0; i < pairsPerRun; i++) await pair();
    messageRuns.get(name)!.wall.push(roundTo((pairsPerRun * 1000) / (performance.now() - start), 1));
    messageRuns.get(name)!.cpu.push(roundTo((pairsPerRun * 1000) / (cpuMs() - cpuStart), 1));
  });

  // (b) Update commits in groups of each size.
  const commitResults = new Map<MlsProviderName, CommitBench[]>(subjects.map(({ name }) => [name, []]));
  for (const members of sizes) {
    const groups = new Map<MlsProviderName, Awaited<ReturnType<typeof commitSession>>>();
    for (const { name, cs } of subjects) {
      const group = await commitSession(members, cs);
      await group.round(); // unmeasured: JIT warm-up and first-use key imports
      groups.set(name, group);
    }
    const runs = new Map<MlsProviderName, CommitRun[]>(subjects.map(({ name }) => [name, []]));
    await interleaved(subjects, members >= 1000 ? 3 : quick ? 5 : 9, async ({ name }) => {
      runs.get(name)!.push(await groups.get(name)!.round());
    });
    for (const { name } of subjects) {
      const r = runs.get(name)!;
      commitResults.get(name)!.push({
        members,
        setupMs: groups.get(name)!.setupMs,
        createCommitMs: median(r.map((x) => x.createMs)),
        processCommitMs: median(r.map((x) => x.processMs)),
        createCommitMinMs: Math.min(...r.map((x) => x.createMs)),
        processCommitMinMs: Math.min(...r.map((x) => x.processMs)),
        createCommitCpuMs: median(r.map((x) => x.createCpuMs)),
        processCommitCpuMs: median(r.map((x) => x.processCpuMs)),
        runs: r,
      });
    }
    groups.clear();
  }

  const providers: ProviderBench[] = subjects.map(({ name }) => {
    const m = messageRuns.get(name)!;
    return {
      provider: name,
      messages: {
        payloadBytes: PAYLOAD_BYTES,
        pairsPerRun,
        pairsPerSecond: median(m.wall),
        pairsPerCpuSecond: median(m.cpu),
        runs: m.wall,
      },
      commits: commitResults.get(name)!,
    };
  });

  const reference = providers.find((p) => p.provider === 'ts-mls default');
  const speedupVsDefault: Record<string, { pairsPerSecond: number; createCommit: Record<string, number>; processCommit: Record<string, number> }> = {};
  for (const p of providers) {
    if (reference === undefined || p === reference) continue;
    const createCommit: Record<string, number> = {};
    const processCommit: Record<string, number> = {};
    for (const c of p.commits) {
      const ref = reference.commits.find((r) => r.members === c.members);
      if (ref === undefined) continue;
      createCommit[String(c.members)] = roundTo(ref.createCommitMs / c.createCommitMs);
      processCommit[String(c.members)] = roundTo(ref.processCommitMs / c.processCommitMs);
    }
    speedupVsDefault[p.provider] = {
      pairsPerSecond: roundTo(p.messages.pairsPerSecond / reference.messages.pairsPerSecond),
      createCommit,
      processCommit,
    };
  }

  // (c) Classic vs X-Wing.
  const suites = opts.suites === false ? undefined : await runMlsSuitesBench({ quick });

  const nodeResult = providers.find((p) => p.provider === 'node');
  const nodePairs = nodeResult?.messages.pairsPerSecond ?? 0;
  const nodeProcess100 = nodeResult?.commits.find((c) => c.members === 100)?.processCommitMs;
  const nodeCreate100 = nodeResult?.commits.find((c) => c.members === 100)?.createCommitMs;
  return {
    suite: SUITE,
    quick,
    runtime: `node ${process.version}, OpenSSL ${process.versions.openssl}`,
    machine: { cores: cpus().length, loadAverageStart, loadAverageEnd: roundTo(loadavg()[0] ?? 0) },
    providers,
    speedupVsDefault,
    targets: {
      nodePairsPerSecond: { target: MLS_TARGETS.pairsPerSecond, measured: nodePairs, met: nodePairs >= MLS_TARGETS.pairsPerSecond },
      nodeProcess100MemberCommitMs: {
        target: MLS_TARGETS.process100Ms,
        measured: nodeProcess100,
        met: nodeProcess100 !== undefined && nodeProcess100 <= MLS_TARGETS.process100Ms,
      },
      nodeCreate100MemberCommitMs: {
        target: MLS_TARGETS.create100Ms,
        measured: nodeCreate100,
        met: nodeCreate100 !== undefined && nodeCreate100 <= MLS_TARGETS.create100Ms,
      },
    },
    ...(suites === undefined ? {} : { suites }),
  };
}

runStandalone(import.meta.url, (a) => {
  const only = a.argv.find((x) => x.startsWith('--providers='))?.slice('--providers='.length).split(',');
  const sizes = a.argv.find((x) => x.startsWith('--sizes='))?.slice('--sizes='.length).split(',').map(Number);
  return runMlsCryptoBench({
    quick: a.quick,
    suites: !a.has('--no-suites'),
    ...(only === undefined ? {} : { providers: only as MlsProviderName[] }),
    ...(sizes === undefined ? {} : { sizes }),
  });
});

/**
 * The classic suite against the hybrid post-quantum one, side by side, through Parley's MLS
 * layer (packages/core/src/mls: createKeyPackage, createGroup, commitChanges,
 * joinFromWelcome, encryptApplication, processIncoming) on the node:crypto provider:
 *
 * - MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (classic, RFC 9420 suite 1);
 * - MLS_256_XWING_AES256GCM_SHA512_Ed25519 (X-Wing: ML-KEM-768 + X25519, AES-256-GCM, SHA-512).
 *
 * Sizes are the encoded MLSMessage bytes Parley hands to the delivery service (commits and
 * Welcomes carry the ratchet tree extension, application messages are padded to 256 bytes):
 * one KeyPackage; the Welcome of a 1:1 group (the creator adds one member) and of adding one
 * member to a 10-member group; an update (path) commit and the GroupInfo published with it at
 * 10 and 100 members.
 *
 * Rates: KeyPackages created per second (one signature key, as a device refills its stock), and
 * 1:1 pairs per second: create a group, add one member from a KeyPackage made beforehand
 * (commitChanges, which also exports the epoch's GroupInfo), the member joins from the
 * Welcome, one application message each way. Median over runs.
 *
 * Commit times: in a group of N members built with one add-commit, the creator makes an update
 * commit (`commitChanges(group, {})`, so the figure includes the GroupInfo export every Parley
 * commit does) and the last-added member processes it (`processIncoming`); nearest-rank p50 and
 * p99 (lib/stats.ts) over the samples. Only the creator commits, so its copath resolves to
 * single leaves and every update commit encrypts a path secret to each of the N − 1 others
 * (the HPKE work that dominates X-Wing). Full runs take 100 samples per size (p99: the second
 * slowest); quick runs 20 and 8 (p99: the slowest).
 *
 * The two suites take turns sample by sample (rotating who goes first), so load from other
 * processes on a shared machine hits them alike.
 *
 * Run alone: `npx tsx bench/mls-suites.ts [--quick]` (prints JSON); `npm run bench -- mls`
 * runs it as the `suites` part of the MLS section.
 */
import { randomBytes } from '../packages/core/src/bytes.js';
import type { DeviceId, IdentityId } from '../packages/core/src/ids.js';
import { nodeCryptoProvider } from '../packages/core/src/mls/crypto-provider.node.js';
import {
  commitChanges,
  createGroup,
  createKeyPackage,
  encryptApplication,
  generateSignatureKeyPair,
  joinFromWelcome,
  loadSuite,
  processIncoming,
  type AuthenticateMember,
  type KeyPackageBundle,
  type MemberRef,
  type MlsGroup,
  type MlsSuite,
  type SignatureKeyPair,
  type SuiteName,
} from '../packages/core/src/mls/index.js';
import { runStandalone } from './lib/entry.js';
import { quantile, summarize, type Percentiles } from './lib/stats.js';

/** The two suites compared, classic first. */
export const COMPARED_SUITES = [
  { label: 'classic', name: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' },
  { label: 'X-Wing', name: 'MLS_256_XWING_AES256GCM_SHA512_Ed25519' },
] as const satisfies readonly { label: string; name: SuiteName }[];
/** `classic` or `X-Wing`. */
export type SuiteLabel = (typeof COMPARED_SUITES)[number]['label'];

/** Update commits in a group of `members`. */
export interface SuiteCommitFigures {
  readonly members: number;
  /** KeyPackages, the one add-commit and the joiner's join (ms, once). */
  readonly setupMs: number;
  /** Encoded update commit (median over samples; they differ by a few bytes at most). */
  readonly commitBytes: number;
  /** The GroupInfo (external public key + ratchet tree) commitChanges exports with it. */
  readonly groupInfoBytes: number;
  /** The creator's commitChanges (createCommit, encoding, GroupInfo export), ms. */
  readonly createMs: Percentiles;
  /** The joiner's processIncoming of that commit, ms. */
  readonly processMs: Percentiles;
}

/** One suite's figures. */
export interface SuiteFigures {
  readonly label: SuiteLabel;
  readonly suite: SuiteName;
  readonly keyPackageBytes: number;
  readonly welcomeBytes: { readonly oneToOne: number; readonly addOneTo10: number };
  /** Median over runs. */
  readonly keyPackagesPerSecond: number;
  readonly keyPackageRuns: readonly number[];
  /** Median over runs of whole 1:1 pairs (group, add, join, one message each way) per second. */
  readonly pairsPerSecond: number;
  readonly pairRuns: readonly number[];
  readonly commits: readonly SuiteCommitFigures[];
}

/** One row of the side-by-side table: X-Wing ÷ classic (> 1: X-Wing is larger, or for rates faster). */
export interface SuiteComparisonRow {
  readonly figure: string;
  readonly unit: 'bytes' | '/s' | 'ms';
  readonly classic: number;
  readonly xwing: number;
  readonly ratio: number;
}

/** The section's result: under `suites` in the MLS section's JSON. */
export interface MlsSuitesBenchResult {
  readonly provider: 'node';
  readonly quick: boolean;
  readonly seconds: number;
  /** Run counts and sizes: KeyPackages and pairs per run, runs of each, update-commit samples per group size. */
  readonly samples: { readonly keyPackagesPerRun: number; readonly pairsPerRun: number; readonly runs: number; readonly commits: Readonly<Record<number, number>> };
  readonly suites: readonly SuiteFigures[];
  readonly comparison: readonly SuiteComparisonRow[];
}

/** Accepts every member (the bench's groups have no directory to check against). */
export const acceptAll: AuthenticateMember = async () => true;
const roundTo = (n: number, digits = 2): number => Number(n.toFixed(digits));
const median = (values: readonly number[]): number => quantile(values, 0.5);

/** A bench member: its reference, signature keys and one KeyPackage (also used by mls-profile.ts). */
export interface Device {
  readonly ref: MemberRef;
  readonly keys: SignatureKeyPair;
  readonly kp: KeyPackageBundle;
}

let deviceCounter = 0;
export async function newDevice(suite: MlsSuite): Promise<Device> {
  // Fixed-length ids, so that sizes do not depend on how many devices came before.
  const n = String(deviceCounter++).padStart(8, '0');
  const ref: MemberRef = { identityId: `bench:member-${n}` as IdentityId, deviceId: `device-${n.padStart(16, '0')}` as DeviceId };
  const keys = await generateSignatureKeyPair(suite);
  return { ref, keys, kp: await createKeyPackage(suite, ref, keys) };
}

export async function join(suite: MlsSuite, device: Device, welcome: Uint8Array): Promise<MlsGroup> {
  const { group } = await joinFromWelcome(
    suite,
    welcome,
    device.keys.privateKey,
    async () => ({ keyPackage: device.kp.keyPackage, privateKey: device.kp.privateKey }),
    acceptAll,
  );
  return group;
}

/** Runs `step` once per suite for each of `rounds` rounds, rotating which suite goes first. */
async function takeTurns<T>(items: readonly T[], rounds: number, step: (item: T) => Promise<void>): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < items.length; k++) await step(items[(round + k) % items.length]!);
  }
}

interface Subject {
  readonly label: SuiteLabel;
  readonly suite: MlsSuite;
}

/** KeyPackages per second: `perRun` createKeyPackage calls with one signature key, per run. */
async function keyPackageRate(subject: Subject, perRun: number): Promise<number> {
  const keys = await generateSignatureKeyPair(subject.suite);
  const ref: MemberRef = { identityId: 'bench:kp' as IdentityId, deviceId: 'device-kp-aaaaaaaaaaaa' as DeviceId };
  const start = performance.now();
  for (let i = 0; i < perRun; i++) await createKeyPackage(subject.suite, ref, keys);
  return roundTo((perRun * 1000) / (performance.now() - start), 1);
}

/** One whole 1:1 pair: returns the Welcome's size. */
async function oneToOne(suite: MlsSuite, alice: Device, bob: Device, payload: Uint8Array): Promise<number> {
  let a = await createGroup(suite, randomBytes(32), alice.ref, alice.keys, acceptAll);
  const added = await commitChanges(suite, a, { add: [bob.kp.keyPackage] });
  if (added.welcome === undefined) throw new Error('the add commit has no Welcome');
  a = added.group;
  let b = await join(suite, bob, added.welcome);
  const toBob = await encryptApplication(suite, a, payload);
  const atBob = await processIncoming(suite, b, toBob.message);
  if (atBob.kind !== 'application') throw new Error(`1:1 pair: the member got ${atBob.kind}`);
  b = atBob.group;
  const toAlice = await encryptApplication(suite, b, payload);
  const atAlice = await processIncoming(suite, toBob.group, toAlice.message);
  if (atAlice.kind !== 'application') throw new Error(`1:1 pair: the creator got ${atAlice.kind}`);
  return added.welcome.length;
}

/** One update commit: its times (ms) and sizes. */
interface CommitSample {
  readonly createMs: number;
  readonly processMs: number;
  readonly commitBytes: number;
  readonly groupInfoBytes: number;
}

/** A group of `members` built with one add-commit, and what the benchmark does with it. */
interface CommitSession {
  readonly setupMs: number;
  /** One update commit by the creator, processed by the last-added member. */
  round(): Promise<CommitSample>;
  /** Welcome size of adding one more member (ends the session: the group grows). */
  addOne(): Promise<number>;
}

async function commitSession(suite: MlsSuite, members: number): Promise<CommitSession> {
  const start = performance.now();
  const creator = await newDevice(suite);
  const others: Device[] = [];
  for (let i = 1; i < members; i++) others.push(await newDevice(suite));
  let group = await createGroup(suite, randomBytes(32), creator.ref, creator.keys, acceptAll);
  const added = await commitChanges(suite, group, { add: others.map((d) => d.kp.keyPackage) });
  if (added.welcome === undefined) throw new Error('the add commit has no Welcome');
  group = added.group;
  let joiner = await join(suite, others.at(-1)!, added.welcome);
  const setupMs = roundTo(performance.now() - start, 0);
  const round = async (): Promise<CommitSample> => {
    const t0 = performance.now();
    const out = await commitChanges(suite, group, {});
    const t1 = performance.now();
    const processed = await processIncoming(suite, joiner, out.commit);
    const t2 = performance.now();
    if (processed.kind !== 'commit' || processed.group.epoch !== out.group.epoch) throw new Error('the joiner did not follow the commit');
    group = out.group;
    joiner = processed.group;
    return { createMs: t1 - t0, processMs: t2 - t1, commitBytes: out.commit.length, groupInfoBytes: out.groupInfo.length };
  };
  const addOne = async (): Promise<number> => {
    const out = await commitChanges(suite, group, { add: [(await newDevice(suite)).kp.keyPackage] });
    if (out.welcome === undefined) throw new Error('the add commit has no Welcome');
    return out.welcome.length;
  };
  return { setupMs, round, addOne };
}

/**
 * Runs the classic-vs-X-Wing comparison on the node:crypto provider.
 *
 * @example
 * const r = await runMlsSuitesBench({ quick: true });
 * console.table(r.comparison);
 */
export async function runMlsSuitesBench(opts: { quick?: boolean } = {}): Promise<MlsSuitesBenchResult> {
  const quick = opts.quick === true;
  const started = performance.now();
  const runs = quick ? 3 : 7;
  const keyPackagesPerRun = quick ? 30 : 100;
  const pairsPerRun = quick ? 10 : 30;
  const commitSamples: Readonly<Record<number, number>> = quick ? { 10: 20, 100: 8 } : { 10: 100, 100: 100 };
  const subjects: Subject[] = [];
  for (const { label, name } of COMPARED_SUITES) subjects.push({ label, suite: await loadSuite(name, nodeCryptoProvider) });
  const figures = new Map(subjects.map((s) => [s.label, { kpRuns: [] as number[], pairRuns: [] as number[], welcome1to1: 0, welcome10: 0, kpBytes: 0, commits: [] as SuiteCommitFigures[] }]));
  const of = (label: SuiteLabel) => figures.get(label)!;

  // KeyPackages: size, then the rate (a short unmeasured warm-up first).
  for (const s of subjects) {
    of(s.label).kpBytes = (await newDevice(s.suite)).kp.keyPackage.length;
    await keyPackageRate(s, 5);
  }
  await takeTurns(subjects, runs, async (s) => {
    of(s.label).kpRuns.push(await keyPackageRate(s, keyPackagesPerRun));
  });

  // 1:1 pairs; the members' KeyPackages and signature keys are made beforehand.
  const payload = randomBytes(1024);
  const pools = new Map<SuiteLabel, Device[]>();
  for (const s of subjects) {
    const pool: Device[] = [];
    for (let i = 0; i < 2 * (runs * pairsPerRun + 2); i++) pool.push(await newDevice(s.suite));
    pools.set(s.label, pool);
    of(s.label).welcome1to1 = await oneToOne(s.suite, pool.pop()!, pool.pop()!, payload); // warm-up
  }
  await takeTurns(subjects, runs, async (s) => {
    const pool = pools.get(s.label)!;
    const pairs = pool.splice(0, 2 * pairsPerRun);
    const start = performance.now();
    for (let i = 0; i < pairsPerRun; i++) await oneToOne(s.suite, pairs[2 * i]!, pairs[2 * i + 1]!, payload);
    of(s.label).pairRuns.push(roundTo((pairsPerRun * 1000) / (performance.now() - start), 1));
  });
  pools.clear();

  // Update commits at 10 and 100 members; then the Welcome of adding an 11th member.
  for (const members of [10, 100]) {
    const sessions = new Map<SuiteLabel, CommitSession>();
    for (const s of subjects) {
      const session = await commitSession(s.suite, members);
      await session.round(); // unmeasured: first-use key imports, JIT
      sessions.set(s.label, session);
    }
    const samples = new Map(subjects.map((s) => [s.label, [] as CommitSample[]]));
    await takeTurns(subjects, commitSamples[members]!, async (s) => {
      samples.get(s.label)!.push(await sessions.get(s.label)!.round());
    });
    for (const s of subjects) {
      const r = samples.get(s.label)!;
      of(s.label).commits.push({
        members,
        setupMs: sessions.get(s.label)!.setupMs,
        commitBytes: median(r.map((x) => x.commitBytes)),
        groupInfoBytes: median(r.map((x) => x.groupInfoBytes)),
        createMs: summarize(r.map((x) => x.createMs)),
        processMs: summarize(r.map((x) => x.processMs)),
      });
      if (members === 10) of(s.label).welcome10 = await sessions.get(s.label)!.addOne();
    }
    sessions.clear();
  }

  const suites: SuiteFigures[] = subjects.map((s) => {
    const f = of(s.label);
    return {
      label: s.label,
      suite: s.suite.name,
      keyPackageBytes: f.kpBytes,
      welcomeBytes: { oneToOne: f.welcome1to1, addOneTo10: f.welcome10 },
      keyPackagesPerSecond: median(f.kpRuns),
      keyPackageRuns: f.kpRuns,
      pairsPerSecond: median(f.pairRuns),
      pairRuns: f.pairRuns,
      commits: f.commits,
    };
  });
  return {
    provider: 'node',
    quick,
    seconds: roundTo((performance.now() - started) / 1000, 1),
    samples: { keyPackagesPerRun, pairsPerRun, runs, commits: commitSamples },
    suites,
    comparison: compare(suites),
  };
}

/** The side-by-side rows (X-Wing ÷ classic). */
function compare(suites: readonly SuiteFigures[]): SuiteComparisonRow[] {
  const classic = suites.find((s) => s.label === 'classic');
  const xwing = suites.find((s) => s.label === 'X-Wing');
  if (classic === undefined || xwing === undefined) return [];
  const rows: SuiteComparisonRow[] = [];
  const row = (figure: string, unit: SuiteComparisonRow['unit'], pick: (s: SuiteFigures) => number | undefined): void => {
    const c = pick(classic);
    const x = pick(xwing);
    if (c === undefined || x === undefined) return;
    rows.push({ figure, unit, classic: roundTo(c), xwing: roundTo(x), ratio: c === 0 ? 0 : roundTo(x / c) });
  };
  const at = (s: SuiteFigures, members: number) => s.commits.find((c) => c.members === members);
  row('KeyPackage', 'bytes', (s) => s.keyPackageBytes);
  row('Welcome, 1:1 group', 'bytes', (s) => s.welcomeBytes.oneToOne);
  row('Welcome, add 1 to 10 members', 'bytes', (s) => s.welcomeBytes.addOneTo10);
  for (const members of [10, 100]) row(`update commit, ${members} members`, 'bytes', (s) => at(s, members)?.commitBytes);
  for (const members of [10, 100]) row(`GroupInfo, ${members} members`, 'bytes', (s) => at(s, members)?.groupInfoBytes);
  row('KeyPackages', '/s', (s) => s.keyPackagesPerSecond);
  row('1:1 pairs (group, add, join, 1 msg each way)', '/s', (s) => s.pairsPerSecond);
  for (const members of [10, 100]) {
    row(`commit create p50, ${members} members`, 'ms', (s) => at(s, members)?.createMs.p50);
    row(`commit create p99, ${members} members`, 'ms', (s) => at(s, members)?.createMs.p99);
    row(`commit process p50, ${members} members`, 'ms', (s) => at(s, members)?.processMs.p50);
    row(`commit process p99, ${members} members`, 'ms', (s) => at(s, members)?.processMs.p99);
  }
  return rows;
}

runStandalone(import.meta.url, (a) => runMlsSuitesBench({ quick: a.quick }));

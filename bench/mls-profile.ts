/**
 * Where MLS time goes (issue 18): V8 CPU profiles of update commits in a group of N members
 * (default 100) and of 1:1 application messages, through Parley's MLS layer
 * (packages/core/src/mls) on the node:crypto provider, classic suite.
 *
 * Three phases, profiled separately: the creator's `commitChanges` (update commit, no
 * proposals), the joiner's `processIncoming` of it, and encrypt+decrypt of 1 KiB
 * application messages in a 1:1 group. Each phase's profile is written to
 * bench/results/mls-profile-<phase>-<date>.cpuprofile and summarized (printed, and kept in
 * bench/results/mls-profile-<date>.json): self time by module and function, and inclusive
 * time of the ts-mls and adapter functions that matter. Inclusive times undercount code that
 * awaits: V8 shows a resumed async function without its callers.
 *
 * Run: `NODE_OPTIONS=--conditions=parley-source npx tsx bench/mls-profile.ts [--members 100] [--commits 40] [--pairs 3000]`
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from '../packages/core/src/bytes.js';
import { nodeCryptoProvider } from '../packages/core/src/mls/crypto-provider.node.js';
import {
  commitChanges,
  createGroup,
  encryptApplication,
  loadSuite,
  processIncoming,
  type MlsGroup,
  type MlsSuite,
} from '../packages/core/src/mls/index.js';
import { startProfiling, summarizeProfile, type CpuProfile, type ProfileRow } from './cpu-profile.js';
import { standaloneArgs } from './lib/entry.js';
import { acceptAll, join as joinGroup, newDevice, type Device } from './mls-suites.js';

async function buildGroup(suite: MlsSuite, members: number): Promise<{ creator: MlsGroup; joiner: MlsGroup }> {
  const creator = await newDevice(suite);
  const others: Device[] = [];
  for (let i = 1; i < members; i++) others.push(await newDevice(suite));
  const group = await createGroup(suite, randomBytes(32), creator.ref, creator.keys, acceptAll);
  const added = await commitChanges(suite, group, { add: others.map((d) => d.kp.keyPackage) });
  if (added.welcome === undefined) throw new Error('the add commit has no Welcome');
  return { creator: added.group, joiner: await joinGroup(suite, others.at(-1)!, added.welcome) };
}

/** Inclusive-time labels: a function name (and optionally a file suffix) per label. */
const INCLUSIVE: readonly { label: string; fn: string; file?: string }[] = [
  { label: 'adapter commitChanges', fn: 'commitChanges', file: 'mls/commit.ts' },
  { label: 'adapter exportGroupInfo', fn: 'exportGroupInfo', file: 'mls/commit.ts' },
  { label: 'adapter processIncoming', fn: 'processIncoming', file: 'mls/process.ts' },
  { label: 'adapter processApplication', fn: 'processApplication', file: 'mls/process.ts' },
  { label: 'adapter encryptApplication', fn: 'encryptApplication', file: 'mls/process.ts' },
  { label: 'adapter decodeMessage', fn: 'decodeMessage', file: 'mls/wire-inspect.ts' },
  { label: 'adapter members()', fn: 'members', file: 'mls/group.ts' },
  { label: 'ts-mls createCommit', fn: 'createCommit', file: 'ts-mls/dist/src/createCommit.js' },
  { label: 'ts-mls createUpdatePath', fn: 'createUpdatePath' },
  { label: 'ts-mls encryptSecretsForPath (HPKE seal)', fn: '', file: 'ts-mls/dist/src/updatePath.js' },
  { label: 'ts-mls encryptWithLabel', fn: 'encryptWithLabel' },
  { label: 'ts-mls decryptWithLabel', fn: 'decryptWithLabel' },
  { label: 'ts-mls createWelcome', fn: 'createWelcome' },
  { label: 'ts-mls createGroupInfoWithExternalPubAndRatchetTree', fn: 'createGroupInfoWithExternalPubAndRatchetTree' },
  { label: 'ts-mls processMessage', fn: 'processMessage' },
  { label: 'ts-mls processCommit', fn: 'processCommit' },
  { label: 'ts-mls applyUpdatePath', fn: 'applyUpdatePath' },
  { label: 'ts-mls applyUpdatePathSecret', fn: 'applyUpdatePathSecret' },
  { label: 'ts-mls validateLeafNode*', fn: 'validateLeafNodeUpdateOrCommit' },
  { label: 'ts-mls verifyParentHashes', fn: 'verifyParentHashes' },
  { label: 'ts-mls treeHashRoot', fn: 'treeHashRoot' },
  { label: 'ts-mls calculateParentHash', fn: 'calculateParentHash' },
  { label: 'ts-mls createSecretTree', fn: 'createSecretTree' },
  { label: 'ts-mls initializeEpoch', fn: 'initializeEpoch' },
  { label: 'ts-mls toPrivateKeyPath', fn: 'toPrivateKeyPath' },
  { label: 'ts-mls protect', fn: 'protect', file: 'messageProtection.js' },
  { label: 'ts-mls unprotectPrivateMessage', fn: 'unprotectPrivateMessage' },
  { label: 'ts-mls ratchetTreeEncoder / encode', fn: 'encode', file: 'codec/tlsEncoder.js' },
  { label: 'ts-mls addHistoricalReceiverData', fn: 'addHistoricalReceiverData' },
  { label: 'HPKE seal (@hpke/core)', fn: 'seal', file: '@hpke/core/esm/src/cipherSuiteNative.js' },
  { label: 'HPKE open (@hpke/core)', fn: 'open', file: '@hpke/core/esm/src/cipherSuiteNative.js' },
  { label: 'HPKE deriveKeyPair', fn: 'deriveKeyPair' },
  { label: 'signature sign', fn: 'sign', file: 'crypto-provider.node.ts' },
  { label: 'signature verify', fn: 'verify', file: 'crypto-provider.node.ts' },
  { label: 'hash digest', fn: 'digest', file: 'crypto-provider.node.ts' },
  { label: 'KDF expand (noble)', fn: 'expand', file: 'crypto-provider-common.ts' },
];

function inclusive(profile: CpuProfile): ProfileRow[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const totals = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const us = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
    total += us;
    const credited = new Set<string>();
    for (let cur: number | undefined = samples[i]; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const m of INCLUSIVE) {
        if (credited.has(m.label) || f.functionName !== m.fn || (m.file !== undefined && !f.url.includes(m.file))) continue;
        credited.add(m.label);
        totals.set(m.label, (totals.get(m.label) ?? 0) + us);
      }
    }
  }
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, percent: Math.round((us / total) * 1000) / 10, ms: Math.round(us / 1000) }));
}

const report: string[] = [];

async function profiled(file: string, what: string, perOp: number, run: () => Promise<void>): Promise<void> {
  const profiler = await startProfiling(100);
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const profile = await profiler.stop(file);
  const s = summarizeProfile(profile, 30);
  const lines = [`\n=== ${what}: ${(ms / perOp).toFixed(3)} ms per operation (${perOp} operations; profiled) — ${file}`];
  lines.push(`sampled ${s.totalMs} ms, GC ${s.gcPercent}%`);
  lines.push('self time by module:');
  for (const r of s.selfByModule.slice(0, 12)) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
  lines.push('self time by function:');
  for (const r of s.selfByFunction) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
  lines.push('inclusive:');
  for (const r of inclusive(profile)) lines.push(`  ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
  console.log(lines.join('\n'));
  report.push(...lines);
}

async function main(): Promise<void> {
  const args = standaloneArgs(process.argv.slice(2));
  const members = Number(args.value('--members') ?? 100);
  const commits = Number(args.value('--commits') ?? 40);
  const pairs = Number(args.value('--pairs') ?? 3000);
  const only = args.value('--phase');
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, '-');
  const suite = await loadSuite('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', nodeCryptoProvider);

  let { creator, joiner } = await buildGroup(suite, members);
  const outputs: { commit: Uint8Array; epoch: bigint }[] = [];
  // Warm-up (JIT, key caches), then the creator's commits; the joiner processes them afterwards.
  for (let i = 0; i < 5; i++) {
    const out = await commitChanges(suite, creator, {});
    const got = await processIncoming(suite, joiner, out.commit);
    if (got.kind !== 'commit') throw new Error(`expected a commit, got ${got.kind}`);
    creator = out.group;
    joiner = got.group;
  }
  if (only === undefined || only === 'create' || only === 'process') {
    await profiled(join(dir, `mls-profile-create-${members}-${stamp}.cpuprofile`), `create update commit, ${members} members`, commits, async () => {
      for (let i = 0; i < commits; i++) {
        const out = await commitChanges(suite, creator, {});
        outputs.push({ commit: out.commit, epoch: out.epoch });
        creator = out.group;
      }
    });
    await profiled(join(dir, `mls-profile-process-${members}-${stamp}.cpuprofile`), `process update commit, ${members} members`, commits, async () => {
      for (const o of outputs) {
        const got = await processIncoming(suite, joiner, o.commit);
        if (got.kind !== 'commit') throw new Error(`expected a commit, got ${got.kind}`);
        joiner = got.group;
      }
    });
  }
  if (only === undefined || only === 'messages') {
    let { creator: alice, joiner: bob } = await buildGroup(suite, 2);
    const payload = randomBytes(1024);
    const pair = async () => {
      const sent = await encryptApplication(suite, alice, payload);
      alice = sent.group;
      const got = await processIncoming(suite, bob, sent.message);
      if (got.kind !== 'application') throw new Error(`expected application data, got ${got.kind}`);
      bob = got.group;
    };
    for (let i = 0; i < 500; i++) await pair();
    await profiled(join(dir, `mls-profile-messages-${stamp}.cpuprofile`), '1:1 application message pair (encrypt + decrypt, 1 KiB)', pairs, async () => {
      for (let i = 0; i < pairs; i++) await pair();
    });
  }
  const notes = { members, commits, pairs, node: process.version, stamp, summary: report };
  await writeFile(join(dir, `mls-profile-${stamp}.json`), JSON.stringify(notes, null, 2) + '\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/**
 * The systems the cluster benchmark compares: Parley on n nodes (one PostgreSQL schema set
 * up once, fresh node processes per node count) and the reference brokers (NATS core,
 * JetStream, Mosquitto), each driven through the same closed loop (cluster/load.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as natsConnect, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { PostgresDatabase } from '@parley/server';
import { createBusiness, openSession, registerRawDevice, type RawDevice } from '@parley/test-kit/server';
import type { ClusterClientSpec, ParleyPairSpec } from '../cluster-clients.js';
import { inPool, sleep } from '../lib/async.js';
import { benchSchemaName, dropSchema } from '../lib/engines.js';
import { rssKiB } from '../lib/machine.js';
import { createPairGroup, plaintextLengthFor, preEncrypt } from '../relay/setup.js';
import { startBroker, tag } from './brokers.js';
import { driveLoad, memoryFigures, shares, summarizeRun } from './load.js';
import { nodeMemory, startNodes, type Node } from './nodes.js';
import type { ClusterRun } from './types.js';

/** The workload every system gets, and where it runs. */
export interface Common {
  devices: number;
  pairs: number;
  windowPerSender: number;
  warmupS: number;
  measureS: number;
  clientProcesses: number;
  brokerClients: 'raw' | 'lib';
  payloadBytes: number;
  databaseUrl: string;
  /** The machine's shared instances when given; private ones otherwise. */
  natsUrl: string | undefined;
  mqttUrl: string | undefined;
  quick: boolean;
  tmp: string;
  /** Brokers only: count-based phases over all pairs (the relay section's peers); warmupS / measureS are then the longest waits. */
  phaseMessages?: { warmup: number; measured: number };
}


/** One PostgreSQL schema with the registered devices and their MLS groups, shared by the node counts. */
export interface ParleySetup {
  readonly schema: string;
  /** The base URL with `search_path` set to the schema. */
  readonly databaseUrl: string;
  readonly keyDir: string;
  readonly devices: RawDevice[];
  /** Per pair: conversation and pre-encrypted messages. */
  readonly groups: readonly { readonly conversationId: string; readonly messages: string[] }[];
  readonly sizes: readonly number[];
  readonly seconds: number;
  /** When the session tokens were issued (they last 15 min). */
  tokensAt: number;
  /** The recipients have received (and acknowledged) their Welcome: true after the first run. */
  welcomed: boolean;
}


/**
 * A fresh schema; one setup node migrates it and creates the shared log keys; the devices
 * register and the pairs create their MLS groups through it; then it stops.
 *
 * @example
 * const setup = await setupParley(c, progress);
 */
export async function setupParley(c: Common, progress: (line: string) => void): Promise<ParleySetup> {
  const log = (line: string) => progress(`cluster[parley setup] ${line}`);
  const t0 = performance.now();
  const schema = benchSchemaName('bench_cluster');
  const admin = new PostgresDatabase({ connectionString: c.databaseUrl });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  await admin.close();
  const url = new URL(c.databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const databaseUrl = url.toString();
  const keyDir = await mkdtemp(join(tmpdir(), 'parley-bench-cluster-keys-'));
  log(`fresh PostgreSQL schema ${schema}; starting a setup node`);
  const [node] = await startNodes(c.tmp, databaseUrl, keyDir, undefined, tag('ps'), 0, 1);
  try {
    log(`registering ${c.devices} devices`);
    const business = await createBusiness(node!.url);
    let registered = 0;
    const devices: RawDevice[] = await inPool(Array.from({ length: c.devices }, (_, i) => i), 8, async (i) => {
      const d = await registerRawDevice(node!.url, business, i % 2 === 0 ? `s${i >> 1}` : `c${i >> 1}`, { kind: i % 2 === 0 ? 'sender' : 'customer', keyPackages: 1 });
      if (++registered % 250 === 0) log(`  ${registered}/${c.devices} registered`);
      return d;
    });
    const tokensAt = Date.now();
    const unique = c.quick ? 8 : 16;
    log(`creating ${c.pairs} MLS groups, ${unique} pre-encrypted ~${c.payloadBytes} B messages each`);
    let plaintextBytes = 0;
    const sizes: number[] = [];
    const groups = await inPool(Array.from({ length: c.pairs }, (_, i) => i), 4, async (i) => {
      const group = await createPairGroup(node!.url, devices[2 * i]!, devices[2 * i + 1]!);
      if (plaintextBytes === 0) plaintextBytes = await plaintextLengthFor(group, c.payloadBytes);
      const { messages, sizes: sz } = await preEncrypt(group, unique, plaintextBytes);
      sizes.push(...sz);
      return { conversationId: group.conversationId, messages };
    });
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`setup done in ${seconds} s`);
    return { schema, databaseUrl, keyDir, devices, groups, sizes, seconds, tokensAt, welcomed: false };
  } finally {
    await node!.stop();
  }
}

/**
 * Drops the setup's schema and key directory.
 *
 * @example
 * await dropParley(c, setup, progress);
 */
export async function dropParley(c: Common, setup: ParleySetup, log: (line: string) => void): Promise<void> {
  await dropSchema(c.databaseUrl, setup.schema, log);
  await rm(setup.keyDir, { recursive: true, force: true });
}

/**
 * Parley on `nodeCount` fresh nodes of the setup's schema (devices round-robin over them).
 *
 * @example
 * const run = await runParley(c, setup, 2, progress);
 */
export async function runParley(c: Common, setup: ParleySetup, nodeCount: number, progress: (line: string) => void): Promise<ClusterRun> {
  const label = `Parley, ${nodeCount} node${nodeCount > 1 ? 's' : ''}`;
  const log = (line: string) => progress(`cluster[parley×${nodeCount}] ${line}`);
  const natsPrefix = tag('pb');
  const t0 = performance.now();
  const nats = await startBroker('nats', c.tmp, c.natsUrl);
  log(`starting ${nodeCount} × parley serve (schema ${setup.schema}, ${nats.private ? 'private' : 'shared'} NATS ${nats.url}, prefix ${natsPrefix})`);
  // Fresh node processes: their memory baseline holds nothing of the setup or an earlier run.
  let nodes: Node[] = [];
  try {
    nodes = await startNodes(c.tmp, setup.databaseUrl, setup.keyDir, nats.url, natsPrefix, 0, nodeCount);
    const nodeOf = (device: number) => nodes[device % nodeCount]!;
    if (Date.now() - setup.tokensAt > 8 * 60_000) {
      log('renewing the session tokens (they last 15 min)');
      const t = Date.now();
      await inPool(setup.devices, 16, async (d, i) => {
        d.token = await openSession(nodeOf(i).url, d.deviceId, d.identity);
      });
      setup.tokensAt = t;
    }
    const ws = (n: Node) => n.url.replace(/^http/, 'ws') + '/v1/ws';
    const pairs: ParleyPairSpec[] = setup.groups.map((g, i) => ({
      senderWs: ws(nodeOf(2 * i)),
      receiverWs: ws(nodeOf(2 * i + 1)),
      senderToken: setup.devices[2 * i]!.token,
      receiverToken: setup.devices[2 * i + 1]!.token,
      conversationId: g.conversationId,
      messages: g.messages,
    }));
    const crossNodePairs = Array.from({ length: c.pairs }, (_, i) => i).filter((i) => (2 * i) % nodeCount !== (2 * i + 1) % nodeCount).length;
    const setupSeconds = Math.round((performance.now() - t0) / 100) / 10;

    const natsPid = nats.pid;
    const natsBefore = await rssKiB(natsPid);
    const before = await nodeMemory(nodes);
    log(`nodes up in ${setupSeconds} s; RSS before connecting: ${before.map((m) => `${(m.rssKiB / 1024).toFixed(0)} MiB`).join(', ')}; connecting ${c.devices} WebSockets`);
    const runTag = tag('m');
    const specs: ClusterClientSpec[] = shares(c.pairs, c.clientProcesses).map((s, child) => ({
      system: 'parley',
      child,
      tag: runTag,
      firstPair: s.first,
      pairCount: s.count,
      windowPerSender: c.windowPerSender,
      payloadBytes: c.payloadBytes,
      connectConcurrency: 32,
      parley: pairs.slice(s.first, s.first + s.count),
      expectWelcome: !setup.welcomed,
    }));
    let natsAfter = 0;
    const load = await driveLoad(label, specs, c.warmupS, c.measureS, {
      sampleMemory: async () => {
        // First called once every client is connected: the Welcomes have been delivered and acknowledged.
        setup.welcomed = true;
        const m = await nodeMemory(nodes);
        if (natsAfter === 0) natsAfter = await rssKiB(natsPid);
        return m;
      },
      cpuGroups: (clients) => ({ servers: nodes.map((n) => n.child.pid!), postgres: true, nats: natsPid, clients }),
    }, log, c.tmp);
    const memory = {
      ...memoryFigures(nodes.map((n) => `parley ${n.nodeId}`), nodes.map((n) => n.child.pid!), before, load.memoryAfterConnect, load.memoryAfterLoad, c.devices),
      natsServerPerDeviceKiB: Math.round(((natsAfter - natsBefore) / c.devices) * 10) / 10,
    };
    const sizes = setup.sizes;
    const notes = [
      'raw wire protocol over WebSocket (auth/submit/deliver/ack frames), not SDK devices: real registered devices and real 2-member MLS groups, payloads pre-encrypted PrivateMessages cycled with unique idempotency keys; recipients do not decrypt (the relay treats payloads as opaque ciphertext)',
      nodeCount > 1
        ? `every pair's sender and recipient on different nodes (${crossNodePairs}/${c.pairs}): stored in PostgreSQL by the sender's node, a NATS notice to the recipient's node, read from PostgreSQL there`
        : 'one node: sender and recipient on the same node (delivered from memory after the commit; the NATS notice is still published, to no subscriber)',
      `durable: a message is acknowledged (submitted) after its PostgreSQL commit; message sizes ${Math.min(...sizes)}–${Math.max(...sizes)} B`,
      'fresh node processes per node count (memory baseline: an idle node with NATS connected); one schema for all node counts, so later runs find the earlier runs\' acknowledged envelope rows in the tables',
    ];
    return summarizeRun({ system: 'parley', label, nodes: nodeCount, devices: c.devices, windowPerSender: c.windowPerSender, payloadBytes: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length), crossNodePairs, load, memory, setupSeconds, notes });
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch((error: unknown) => log(`stopping ${n.nodeId}: ${String(error)}`))));
    await nats.stop();
  }
}

/**
 * One reference broker (a private instance unless the machine's is given) under the same load.
 *
 * @example
 * const run = await runBroker(c, 'jetstream', progress);
 */
export async function runBroker(c: Common, system: 'nats' | 'jetstream' | 'mqtt', progress: (line: string) => void): Promise<ClusterRun> {
  const label = system === 'nats' ? 'NATS core' : system === 'jetstream' ? 'NATS JetStream' : 'Mosquitto QoS 1';
  const log = (line: string) => progress(`cluster[${system}] ${line}`);
  const setupStart = performance.now();
  const broker = await startBroker(system === 'mqtt' ? 'mqtt' : 'nats', c.tmp, system === 'mqtt' ? c.mqttUrl : c.natsUrl);
  const { comm, pid } = broker;
  const runTag = tag(system === 'mqtt' ? 'bm' : 'bn');
  const stream = `BENCH_${runTag.toUpperCase()}`;
  let admin: NatsConnection | undefined;
  try {
    if (system === 'jetstream') {
      admin = await natsConnect({ servers: broker.url, name: `${runTag}-admin` });
      const jsm = await admin.jetstreamManager();
      await jsm.streams.add({ name: stream, subjects: [`${runTag}.dev.>`], storage: StorageType.File, retention: RetentionPolicy.Limits, max_bytes: 2 * 1024 ** 3, num_replicas: 1 });
    }
    await sleep(500);
    const before = await rssKiB(pid);
    const setupSeconds = Math.round((performance.now() - setupStart) / 100) / 10;
    log(`${broker.private ? 'private' : 'shared'} ${comm} at ${broker.url}, RSS before connecting ${(before / 1024).toFixed(1)} MiB; connecting ${c.devices} clients`);
    const specs: ClusterClientSpec[] = shares(c.pairs, c.clientProcesses).map((s, child) => ({
      system,
      child,
      tag: runTag,
      firstPair: s.first,
      pairCount: s.count,
      windowPerSender: c.windowPerSender,
      payloadBytes: c.payloadBytes,
      connectConcurrency: 32,
      ...(system === 'mqtt' ? { mqttUrl: broker.url } : { natsUrl: broker.url }),
      ...(system === 'jetstream' ? { jetstreamStream: stream } : {}),
      brokerClients: c.brokerClients,
      // Each child its share of the counts.
      ...(c.phaseMessages ? { phaseMessages: { warmup: Math.round((c.phaseMessages.warmup * s.count) / c.pairs), measured: Math.round((c.phaseMessages.measured * s.count) / c.pairs) } } : {}),
    }));
    const load = await driveLoad(label, specs, c.warmupS, c.measureS, {
      sampleMemory: async () => [{ rssKiB: await rssKiB(pid), liveKiB: undefined }],
      cpuGroups: (clients) => ({ servers: [pid], postgres: false, nats: undefined, clients }),
    }, log, c.tmp);
    const memory = memoryFigures([comm], [pid], [{ rssKiB: before, liveKiB: undefined }], load.memoryAfterConnect, load.memoryAfterLoad, c.devices);
    const notes =
      system === 'nats'
        ? ['core NATS: at-most-once, no storage, no acknowledgement to the sender; a message leaves the window when delivered', 'the physical-limit baseline: one hop through nats-server, no database']
        : system === 'jetstream'
          ? ['JetStream: file storage (one stream, a push consumer with explicit acks per recipient); a message leaves the window when stored (PubAck) and delivered', 'nats-server writes its file store without an fsync per message (it syncs every 2 min by default): stored, not durable per message the way a PostgreSQL commit is']
          : ['MQTT 3.1.1 QoS 1 (PUBACK from the broker; QoS 1 delivery acknowledged by the recipient); clean sessions; a message leaves the window when PUBACKed and delivered', 'mosquitto keeps messages in memory: not durable'];
    notes.push(
      c.brokerClients === 'raw'
        ? `clients: lean raw-protocol ${system === 'mqtt' ? 'MQTT 3.1.1' : 'NATS'} connections (bench/cluster-wire.ts), like the Parley clients' raw WebSocket frames${system === 'jetstream' ? '; nats.js only creates the consumers' : ''}`
        : `clients: the official \`${system === 'mqtt' ? 'mqtt' : 'nats'}\` library, one client object per device`,
    );
    notes.push(
      broker.private
        ? `a private ${comm} (same version and options as the machine's, ${system === 'mqtt' ? 'without the periodic persistence snapshot' : 'JetStream store in a temp dir'}) started for this run: a clean memory baseline and no other user's traffic`
        : `${comm} is the machine's shared instance: memory is its RSS growth while the clients connected (memory freed by earlier clients and other users add noise)`,
    );
    return summarizeRun({ system, label, nodes: undefined, devices: c.devices, windowPerSender: c.windowPerSender, payloadBytes: c.payloadBytes, crossNodePairs: undefined, load, memory, setupSeconds, notes });
  } finally {
    if (admin) {
      const jsm = await admin.jetstreamManager().catch(() => undefined);
      await jsm?.streams.delete(stream).catch((error: unknown) => log(`deleting stream ${stream}: ${String(error)}`));
      await admin.close().catch(() => {});
    }
    await broker.stop();
  }
}

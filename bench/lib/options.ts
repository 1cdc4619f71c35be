/** The command line of `npm run bench -- …` (bench/run.ts); the sections' own entry points are in lib/entry.ts. */
import type { SystemKind } from '../cluster-clients.js';
import type { RelayPeer } from '../relay/peers.js';
import { CLASSIC_SUITE, XWING_SUITE, type SuiteName } from '@parley/core/mls';
import { DEFAULT_POSTGRES_URL, enginesOf, type Engine, type EngineChoice } from './engines.js';

/** A section of `npm run bench`. */
export type Section = 'relay' | 'tlog' | 'audit' | 'routing' | 'mls' | 'sdk' | 'cluster' | 'bundle-size' | 'gateway' | 'signer' | 'backup' | 'media' | 'startup';

/** The parsed `npm run bench` command line. */
export interface Args {
  sections: Section[];
  name: string;
  quick: boolean;
  engines: Engine[];
  clients: 'child' | 'inline';
  instrument: boolean;
  pairs: number | undefined;
  messages: number | undefined;
  postgresUrl: string;
  /** Longest wait for an idle machine before each relay run (0: don't wait). */
  waitQuietMs: number;
  /** CPU-profile the server's main thread over each relay run's measured phase. */
  profile: boolean;
  /** `cluster` only (bench/cluster.ts). */
  cluster: { devices?: number; nodeCounts?: number[]; systems?: SystemKind[]; inFlight?: number; measureSeconds?: number; clientProcesses?: number; brokerClients?: 'raw' | 'lib' };
  /** Router tick of the routing section's server (default: the server's default). */
  tickMs: number | undefined;
  /** The relay pairs' conversations' MLS suite (`--suite classic|xwing`, default classic). */
  suite: SuiteName;
  /** The audit section's submissions: `http` (POST /v1/messages, default) or `ws` (submit frames, as the SDK online). */
  transport: 'http' | 'ws';
  /** Peers the relay section measures after Parley (`--peers mqtt,jetstream|all|none`, default all; missing binaries are skipped). */
  peers: RelayPeer[];
}

/** `npm run bench -- --help`. */
export const USAGE =
  'usage: npm run bench -- [relay|tlog|audit|routing|mls|sdk|bundle-size|gateway|signer|backup|media|startup|all] [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--instrument] [--pairs N] [--messages N] [--postgres-url URL] [--wait-quiet SECONDS] [--profile] [--tick-ms N] [--suite classic|xwing] [--peers all|none|mqtt,jetstream] [--transport http|ws]' +
  '\n       npm run bench -- cluster [--quick] [--devices N] [--nodes 1,2,3] [--systems nats,jetstream,mqtt,parley] [--in-flight N] [--seconds S] [--client-procs N] [--broker-clients raw|lib] [--postgres-url URL] [--wait-quiet SECONDS]';

/**
 * Parses `npm run bench -- …` (flags also as `--flag=value`). Throws with the usage on a
 * bad argument; `--help` prints the usage and exits 0.
 *
 * @example
 * const args = parseArgs(['audit', '--quick', '--engine', 'pglite']);
 */
export function parseArgs(argv: readonly string[]): Args {
  let name = 'all';
  let quick = false;
  let engine: EngineChoice = 'both';
  let clients: 'child' | 'inline' = 'child';
  let instrument = false;
  let waitQuietMs = 60_000;
  let profile = false;
  let pairs: number | undefined;
  let messages: number | undefined;
  const cluster: Args['cluster'] = {};
  let tickMs: number | undefined;
  let suite: SuiteName = CLASSIC_SUITE;
  let peers: RelayPeer[] = ['mqtt', 'jetstream'];
  let transport: 'http' | 'ws' = 'http';
  let postgresUrl = process.env['PARLEY_BENCH_DATABASE_URL'] ?? DEFAULT_POSTGRES_URL;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const positive = (v: string, flag: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const take = () => inline ?? value(i++, flag);
    switch (flag) {
      case 'relay':
      case 'tlog':
      case 'audit':
      case 'routing':
      case 'mls':
      case 'sdk':
      case 'cluster':
      case 'bundle-size':
      case 'gateway':
      case 'signer':
      case 'backup':
      case 'media':
      case 'startup':
      case 'all':
        name = flag;
        break;
      case '--devices':
        cluster.devices = positive(take(), flag);
        break;
      case '--nodes':
        cluster.nodeCounts = take().split(',').map((v) => positive(v, flag));
        break;
      case '--systems': {
        const list = take().split(',');
        const known: SystemKind[] = ['parley', 'nats', 'jetstream', 'mqtt'];
        if (!list.every((v): v is SystemKind => (known as string[]).includes(v))) throw new Error(`--systems takes ${known.join(',')}\n${USAGE}`);
        cluster.systems = list;
        break;
      }
      case '--in-flight':
        cluster.inFlight = positive(take(), flag);
        break;
      case '--seconds':
        cluster.measureSeconds = positive(take(), flag);
        break;
      case '--client-procs':
        cluster.clientProcesses = positive(take(), flag);
        break;
      case '--broker-clients': {
        const v = take();
        if (v !== 'raw' && v !== 'lib') throw new Error(`--broker-clients must be raw or lib\n${USAGE}`);
        cluster.brokerClients = v;
        break;
      }
      case '--quick':
        quick = true;
        break;
      case '--suite': {
        const v = take();
        if (v !== 'classic' && v !== 'xwing') throw new Error(`--suite must be classic or xwing\n${USAGE}`);
        suite = v === 'xwing' ? XWING_SUITE : CLASSIC_SUITE;
        break;
      }
      case '--engine': {
        const v = take();
        if (v !== 'pglite' && v !== 'postgres' && v !== 'both') throw new Error(`--engine must be pglite, postgres or both\n${USAGE}`);
        engine = v;
        break;
      }
      case '--clients': {
        const v = take();
        if (v !== 'child' && v !== 'inline') throw new Error(`--clients must be child or inline\n${USAGE}`);
        clients = v;
        break;
      }
      case '--wait-quiet':
        waitQuietMs = Number(take()) * 1000;
        if (!Number.isFinite(waitQuietMs) || waitQuietMs < 0) throw new Error(`--wait-quiet needs seconds\n${USAGE}`);
        break;
      case '--profile':
        profile = true;
        break;
      case '--instrument':
        instrument = true;
        break;
      case '--pairs':
        pairs = positive(take(), flag);
        break;
      case '--messages':
        messages = positive(take(), flag);
        break;
      case '--postgres-url':
        postgresUrl = take();
        break;
      case '--peers': {
        const v = take();
        const list = v === 'none' ? [] : v === 'all' ? ['mqtt', 'jetstream'] : v.split(',');
        if (!list.every((p): p is RelayPeer => p === 'mqtt' || p === 'jetstream')) throw new Error(`--peers takes all, none or mqtt,jetstream\n${USAGE}`);
        peers = list;
        break;
      }
      case '--transport': {
        const v = take();
        if (v !== 'http' && v !== 'ws') throw new Error(`--transport takes http or ws\n${USAGE}`);
        transport = v;
        break;
      }
      case '--tick-ms':
        tickMs = positive(take(), flag);
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  const sections: Section[] = name === 'all' ? ['relay', 'tlog', 'audit', 'routing', 'mls', 'sdk'] : [name as Section];
  return { sections, name, quick, engines: enginesOf(engine), clients, instrument, pairs, messages, postgresUrl, waitQuietMs, profile, tickMs, cluster, suite, peers, transport };
}

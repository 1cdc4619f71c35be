/**
 * The routing benchmark's server side: its servers (durable storage, warn/error lines
 * collected), timing wrappers around the real channel adapters, the metrics histogram,
 * route rows and the CPU of the PostgreSQL backends serving this process.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startServer, type Channel, type ChannelSet, type ParleyServer, type ServerConfigInput } from '@parley/server';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { sleep } from '../lib/async.js';
import { benchDatabase, type Engine } from '../lib/engines.js';
import { CLK_TCK } from '../lib/machine.js';

/**
 * Rounds to one decimal.
 *
 * @example
 * round1(1.26); // 1.3
 */
export const round1 = (n: number): number => Math.round(n * 10) / 10;
/**
 * Rounds to two decimals.
 *
 * @example
 * round2(1.266); // 1.27
 */
export const round2 = (n: number): number => Math.round(n * 100) / 100;

/** Local ports of this process's TCP connections to `port` (Linux /proc; empty elsewhere). */
async function ownConnectionPorts(port: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd').catch(() => [] as string[])) {
    const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1]?.split(':')[1];
      const remote = f[2]?.split(':')[1];
      if (local && remote && parseInt(remote, 16) === port && inodes.has(f[9] ?? '')) ports.push(parseInt(local, 16));
    }
  }
  return ports;
}

/**
 * CPU ms so far of each PostgreSQL backend serving this process's connections (the
 * servers' pools), found through pg_stat_activity by client port. Other sessions on the
 * same PostgreSQL (other people's tests on a shared machine) are not counted; neither
 * are shared background processes (WAL writer, checkpointer).
 */
export async function postgresBackendCpuMs(server: ParleyServer, port: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const ports = await ownConnectionPorts(port);
  if (ports.length === 0) return out;
  const rows = await server.db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports.map(String)]);
  for (const { pid } of rows) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(pid), ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1000); // utime + stime
    } catch {
      /* the backend ended */
    }
  }
  return out;
}

/**
 * CPU the backends used between two samples: per backend, end − start (a backend opened
 * in between counts from zero; one that closed in between is lost, as pools close idle
 * connections that is mostly the other, idle server's).
 */
export function backendCpuDelta(start: ReadonlyMap<number, number>, end: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ms] of end) total += Math.max(0, ms - (start.get(pid) ?? 0));
  return total;
}

/** Times `send` and `capabilities` of the real channel adapters (the router calls them through these wrappers). */
export class ChannelTiming {
  readonly sends = new Map<string, number[]>();
  readonly failures = new Map<string, number>();
  readonly capabilities = new Map<string, number[]>();

  private wrapOne(channel: Channel | undefined): Channel | undefined {
    if (!channel) return undefined;
    const record = (map: Map<string, number[]>, ms: number) => {
      const list = map.get(channel.name) ?? [];
      list.push(ms);
      map.set(channel.name, list);
    };
    const send: Channel['send'] = async (envelope) => {
      const t0 = performance.now();
      try {
        const result = await channel.send(envelope);
        record(this.sends, performance.now() - t0);
        return result;
      } catch (error) {
        this.failures.set(channel.name, (this.failures.get(channel.name) ?? 0) + 1);
        throw error;
      }
    };
    const capabilities: Channel['capabilities'] = async (recipient) => {
      const t0 = performance.now();
      const caps = await channel.capabilities(recipient);
      record(this.capabilities, performance.now() - t0);
      return caps;
    };
    return new Proxy(channel, {
      get(target, prop) {
        if (prop === 'send') return send;
        if (prop === 'capabilities') return capabilities;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  wrap(set: ChannelSet): ChannelSet {
    const fcm = this.wrapOne(set.fcm);
    const apns = this.wrapOne(set.apns);
    const rbm = this.wrapOne(set.rbm);
    const sms = this.wrapOne(set.sms);
    return { ...(fcm ? { fcm } : {}), ...(apns ? { apns } : {}), ...(rbm ? { rbm } : {}), ...(sms ? { sms } : {}) };
  }

  reset(): void {
    this.sends.clear();
    this.failures.clear();
    this.capabilities.clear();
  }
}

/** `parley_channel_send_seconds` sum and count per channel from a /metrics text. */
export function channelSendMetrics(text: string): Map<string, { count: number; sumSeconds: number }> {
  const out = new Map<string, { count: number; sumSeconds: number }>();
  for (const m of text.matchAll(/^parley_channel_send_seconds_(sum|count)\{([^}]*)\} ([0-9.eE+-]+)$/gm)) {
    const channel = /channel="([^"]*)"/.exec(m[2]!)?.[1];
    if (!channel) continue;
    const entry = out.get(channel) ?? { count: 0, sumSeconds: 0 };
    if (m[1] === 'sum') entry.sumSeconds += Number(m[3]);
    else entry.count += Number(m[3]);
    out.set(channel, entry);
  }
  return out;
}

/** Collects the servers' warn/error log lines (level `warn`): counted and sampled into the notes. */
export class LogSink {
  count = 0;
  readonly samples: string[] = [];
  readonly destination = {
    write: (line: string): void => {
      this.count++;
      if (this.samples.length < 5) {
        try {
          const o = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          this.samples.push(`${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}`.slice(0, 200));
        } catch {
          this.samples.push(line.slice(0, 200));
        }
      }
    },
  };
}

/** A route as the benchmark reads it. */
export interface RouteRow {
  message_id: string;
  state: string;
  path: string | null;
  created_at: Date | string;
  finished_at: Date | string | null;
}

/** The routes of these messages, by message id. */
async function routeRows(server: ParleyServer, ids: readonly string[]): Promise<Map<string, RouteRow>> {
  const rows = await server.db.query<RouteRow>('SELECT message_id, state, path, created_at, finished_at FROM routes WHERE message_id = ANY($1::text[])', [ids]);
  return new Map(rows.map((r) => [r.message_id, r]));
}

/** Waits until none of the routes is active (or the deadline); returns the rows. */
export async function settledRoutes(server: ParleyServer, ids: readonly string[], timeoutMs: number): Promise<Map<string, RouteRow>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await routeRows(server, ids);
    const active = ids.filter((id) => (rows.get(id)?.state ?? 'active') === 'active');
    if (active.length === 0 || Date.now() > deadline) return rows;
    await sleep(25);
  }
}

/** Waits until the server has no active route (or the deadline); returns how many are still active. */
export async function noActiveRoutes(server: ParleyServer, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await server.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM routes WHERE state = 'active'`);
    const n = Number(row?.n ?? 0);
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(20);
  }
}

/** A database timestamp in ms since the epoch. */
export const epochMs = (d: Date | string): number => new Date(d).getTime();

// --- servers ---------------------------------------------------------------------------

/** One of the benchmark's servers. */
export interface BenchServer {
  server: ParleyServer;
  url: string;
  schema?: string;
}

/**
 * Starts a server with durable storage (PGlite in `tmp`, or a fresh PostgreSQL schema) whose
 * warnings and errors go to `sink`.
 *
 * @example
 * const off = await startBenchServer('pglite', 'off', tmp, databaseUrl, sink, { routing: { enabled: false } });
 */
export async function startBenchServer(
  engine: Engine,
  label: string,
  tmp: string,
  databaseUrl: string,
  sink: LogSink,
  extra: Pick<ServerConfigInput, 'port' | 'routing'>,
): Promise<BenchServer> {
  const { database, schema } = await benchDatabase(engine, { url: databaseUrl, schemaPrefix: `bench_routing_${label}`, pgliteDir: join(tmp, `pgdata-${label}`) });
  const server = await startServer({
    log: { level: 'warn', destination: sink.destination },
    auth: { sessionTtlSeconds: 3600 },
    adminToken: ADMIN_TOKEN,
    database,
    // Durable signing keys on PostgreSQL too (PGlite keeps them in its data directory).
    ...(engine === 'postgres' ? { keys: { dir: join(tmp, `keys-${label}`) } } : {}),
    ...extra,
  });
  return { server, url: server.url, ...(schema ? { schema } : {}) };
}

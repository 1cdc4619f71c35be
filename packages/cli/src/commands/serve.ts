/** `parley serve`: one server node, embedded PGlite by default or PostgreSQL. */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { randomBytes, toBase64Url } from '@parley/core';
import { startServer, type DatabaseConfig } from '@parley/server';
import { parseFlags, parsePort, UsageError } from '../args.js';
import { loadRoutingConfig } from '../routing-config.js';

export async function runServe(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    'admin-token': { type: 'string' },
    'node-id': { type: 'string' },
    'log-level': { type: 'string' },
    'key-dir': { type: 'string' },
    'log-origin': { type: 'string' },
    'nats-url': { type: 'string' },
    routing: { type: 'string' },
    'nats-prefix': { type: 'string' },
    'db-pool-size': { type: 'string' },
  });
  const databaseUrl = flags['database-url'] ?? process.env['DATABASE_URL'];
  if (flags['data-dir'] && flags['database-url']) throw new UsageError('use either --data-dir or --database-url');
  let database: DatabaseConfig;
  let keyDir: string;
  const poolSize = flags['db-pool-size'] ?? process.env['PARLEY_DB_POOL_SIZE'];
  if (poolSize !== undefined && !/^[1-9][0-9]{0,3}$/.test(poolSize)) throw new UsageError(`invalid --db-pool-size '${poolSize}'`);
  if (databaseUrl && !flags['data-dir']) {
    // Per node: nodes × pool size must stay below PostgreSQL's max_connections.
    database = { kind: 'postgres', url: databaseUrl, ...(poolSize ? { maxConnections: Number(poolSize) } : {}) };
    // Every node sharing the database signs the same log: they must share one key file.
    if (!flags['key-dir']) throw new UsageError('with --database-url, pass --key-dir DIR (the transparency log key; shared by every node of this database)');
    keyDir = resolve(flags['key-dir']);
  } else {
    const dataDir = resolve(flags['data-dir'] ?? '.parley/data');
    await mkdir(dataDir, { recursive: true });
    database = { kind: 'pglite', dataDir };
    keyDir = resolve(flags['key-dir'] ?? join(dataDir, 'keys'));
  }
  const origin = flags['log-origin'];
  // tlog-checkpoint: the origin is the log's URL prefix without the scheme, and it names the signing key.
  if (origin !== undefined && (!/^[^\s+]+$/.test(origin) || /^[a-z][a-z0-9+.-]*:\/\//i.test(origin) || origin.endsWith('/'))) {
    throw new UsageError(`--log-origin must be a URL prefix without scheme or trailing slash, e.g. parley.example.com/logs/keys`);
  }
  let adminToken = flags['admin-token'] ?? process.env['PARLEY_ADMIN_TOKEN'];
  const generated = adminToken === undefined;
  adminToken ??= toBase64Url(randomBytes(24));
  const level = (flags['log-level'] ?? 'info') as 'info';
  // Nodes share mail through the database: NATS only makes sense between PostgreSQL nodes
  // (an inherited PARLEY_NATS_URL is ignored by an embedded server).
  if (flags['nats-url'] !== undefined && database.kind !== 'postgres') throw new UsageError('--nats-url needs --database-url (several nodes share one PostgreSQL)');
  const natsUrl = database.kind === 'postgres' ? (flags['nats-url'] ?? process.env['PARLEY_NATS_URL']) : undefined;
  const natsPrefix = flags['nats-prefix'] ?? process.env['PARLEY_NATS_PREFIX'];
  if (natsPrefix !== undefined && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(natsPrefix)) {
    throw new UsageError('--nats-prefix must be dot-separated tokens of letters, digits, _ and -');
  }
  const nodeId = flags['node-id'] ?? process.env['NODE_ID'] ?? process.env['PARLEY_NODE_ID'] ?? 'node-1';

  // Providers and per-business policies (routing-config.ts); without it: the app channel only.
  const routingFile = flags.routing ?? process.env['PARLEY_ROUTING_CONFIG'];
  const routing = routingFile ? await loadRoutingConfig(resolve(routingFile)) : undefined;

  const server = await startServer({
    host: flags.host ?? '127.0.0.1',
    port: parsePort(flags.port ?? process.env['PORT'], 8080),
    database,
    adminToken,
    nodeId,
    ...(natsUrl ? { nats: { url: natsUrl, ...(natsPrefix ? { subjectPrefix: natsPrefix } : {}) } } : {}),
    log: { level },
    keys: { dir: keyDir },
    ...(origin ? { tlog: { origin } } : {}),
    ...(routing ? { routing } : {}),
  });
  const where = database.kind === 'pglite' ? `embedded PGlite at ${database.dataDir}` : `PostgreSQL${natsUrl ? ', NATS notices' : ''}`;
  process.stdout.write(`parley listening on ${server.url} (${where}; node ${nodeId})\n`);
  if (routing) {
    const channels = Object.entries(routing.channels ?? {}).map(([k, c]) => (c ? `${k}=${c.name}` : k));
    process.stdout.write(`routing: channels ${channels.join(', ') || 'none'}; ${Object.keys(routing.businesses ?? {}).length} business policies\n`);
  }
  if (generated) process.stdout.write(`admin token for this run: ${adminToken} (set PARLEY_ADMIN_TOKEN to choose one)\n`);
  // The same document as GET /v1/logs: what verifiers need (`parley log verify --key …`).
  process.stdout.write(`transparency logs: ${JSON.stringify({ logs: [server.keyLog.describe(), server.auditLog.describe()] })}\n`);

  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      process.stdout.write(`parley: ${signal} received, draining and stopping…\n`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      server.stop().then(resolveStop, resolveStop);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  process.stdout.write('parley stopped\n');
  return 0;
}

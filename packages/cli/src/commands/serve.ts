/** `parley serve`: one server node, embedded PGlite by default or PostgreSQL. */
import { join, resolve } from 'node:path';
import { isParleyError } from '@parley/core/errors';
// Only light modules at load time: the server's own modules (@parley/server, routing) are
// imported after the embedded database started opening, so PGlite boots on its worker thread
// while the main thread loads them (start-up, issue 18).
import { closeEmbeddedDatabase, normaliseOrigins, openEmbeddedDatabase, otlpTracesEndpoint, type EmbeddedDatabase } from '@parley/server/boot';
import type { DatabaseConfig } from '@parley/server';
import { parseFlags, parseLogLevel, parsePort } from '../args.js';
import { UsageError, type ExitCode } from '../errors.js';
import { resolveAdminToken } from '../admin-token.js';
import { readSecretFile } from '../private-files.js';
import { consoleAssetsDir } from '../console-assets.js';

/**
 * `parley serve …`: runs one server node until SIGTERM or SIGINT, then drains and stops; returns the exit code.
 *
 * @example
 * process.exitCode = await runServe(['--port', '8080', '--data-dir', '.parley/data']);
 */
export async function runServe(argv: readonly string[]): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    'admin-token': { type: 'string' },
    'admin-token-file': { type: 'string' },
    'node-id': { type: 'string' },
    'log-level': { type: 'string' },
    'key-dir': { type: 'string' },
    'log-origin': { type: 'string' },
    'nats-url': { type: 'string' },
    routing: { type: 'string' },
    'nats-prefix': { type: 'string' },
    'db-pool-size': { type: 'string' },
    'max-connections-per-ip': { type: 'string' },
    'request-timeout': { type: 'string' },
    'metrics-listen': { type: 'string' },
    'metrics-token-file': { type: 'string' },
    'otlp-endpoint': { type: 'string' },
    'allowed-origins': { type: 'string' },
    signer: { type: 'string' },
    'migrate-vrf-key': { type: 'boolean', default: false },
  });
  // Checked first: a bad origin list or log level stops before anything is created on disk.
  const level = parseLogLevel(flags['log-level'] ?? 'info', '--log-level');
  const allowedOrigins = parseAllowedOrigins(flags['allowed-origins'] ?? process.env['PARLEY_ALLOWED_ORIGINS']);
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
    // startServer creates it 0700 (or refuses one open to others) and locks it.
    const dataDir = resolve(flags['data-dir'] ?? '.parley/data');
    database = { kind: 'pglite', dataDir };
    keyDir = resolve(flags['key-dir'] ?? join(dataDir, 'keys'));
  }
  // Keys in a PKCS#11 token (RFC 7512 URI naming the token; the PIN from pin-source=file: or PARLEY_PKCS11_PIN, never a flag).
  const signer = flags.signer ?? (process.env['PARLEY_SIGNER'] || undefined);
  if (flags['migrate-vrf-key'] && signer === undefined) throw new UsageError('--migrate-vrf-key needs --signer (it wraps vrf.key by the token)');
  const origin = flags['log-origin'];
  // tlog-checkpoint: the origin is the log's URL prefix without the scheme, and it names the signing key.
  if (origin !== undefined && (!/^[^\s+]+$/.test(origin) || /^[a-z][a-z0-9+.-]*:\/\//i.test(origin) || origin.endsWith('/'))) {
    throw new UsageError(`--log-origin must be a URL prefix without scheme or trailing slash, e.g. parley.example.com/logs/keys`);
  }
  // Never on stdout (the log stream); generated once into <key-dir>/admin-token (0600) when not given.
  const admin = await resolveAdminToken({
    flag: flags['admin-token'],
    file: flags['admin-token-file'],
    env: process.env['PARLEY_ADMIN_TOKEN'],
    defaultFile: join(keyDir, 'admin-token'),
    warn: (line) => process.stderr.write(`${line}\n`),
  });
  const adminToken = admin.token;
  // Nodes share mail through the database: NATS only makes sense between PostgreSQL nodes
  // (an inherited PARLEY_NATS_URL is ignored by an embedded server).
  if (flags['nats-url'] !== undefined && database.kind !== 'postgres') throw new UsageError('--nats-url needs --database-url (several nodes share one PostgreSQL)');
  const natsUrl = database.kind === 'postgres' ? (flags['nats-url'] ?? process.env['PARLEY_NATS_URL']) : undefined;
  const natsPrefix = flags['nats-prefix'] ?? process.env['PARLEY_NATS_PREFIX'];
  if (natsPrefix !== undefined && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(natsPrefix)) {
    throw new UsageError('--nats-prefix must be dot-separated tokens of letters, digits, _ and -');
  }
  const nodeId = flags['node-id'] ?? process.env['NODE_ID'] ?? process.env['PARLEY_NODE_ID'] ?? 'node-1';
  const routingFile = flags.routing ?? process.env['PARLEY_ROUTING_CONFIG'];
  // Metrics: on a separate private listener, or on the main port behind a token (the admin token works too).
  const metricsListen = flags['metrics-listen'] === undefined ? undefined : parseHostPort(flags['metrics-listen'], '--metrics-listen');
  const metricsToken = flags['metrics-token-file'] !== undefined ? await readTokenFile(flags['metrics-token-file'], '--metrics-token-file') : process.env['PARLEY_METRICS_TOKEN'] || undefined;

  // Connection limits (packages/server/src/http/connection-limits.ts): behind a load balancer every
  // client shares its address, so cap there and pass --max-connections-per-ip 0 here.
  const perIp = flags['max-connections-per-ip'] ?? process.env['PARLEY_MAX_CONNECTIONS_PER_IP'];
  if (perIp !== undefined && !/^(0|[1-9][0-9]{0,6})$/.test(perIp)) throw new UsageError(`invalid --max-connections-per-ip '${perIp}'`);
  const requestTimeout = flags['request-timeout'];
  if (requestTimeout !== undefined && !/^[1-9][0-9]{0,4}$/.test(requestTimeout)) throw new UsageError(`invalid --request-timeout '${requestTimeout}' (seconds)`);
  // Traces over OTLP/HTTP: --otlp-endpoint, else the OTEL_EXPORTER_OTLP_* variables; none: tracing off.
  let otlpEndpoint: string | undefined;
  try {
    otlpEndpoint = otlpTracesEndpoint(flags['otlp-endpoint'], process.env);
  } catch (error) {
    throw new UsageError(`invalid --otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT: ${error instanceof Error ? error.message : 'not a URL'} (e.g. --otlp-endpoint http://127.0.0.1:4318/v1/traces)`);
  }
  const http = {
    ...(perIp !== undefined ? { maxConnectionsPerIp: Number(perIp) } : {}),
    ...(requestTimeout !== undefined ? { requestTimeoutMs: Number(requestTimeout) * 1000 } : {}),
  };

  const metrics = metricsListen || metricsToken ? { ...(metricsToken ? { token: metricsToken } : {}), ...(metricsListen ? { listen: metricsListen } : {}) } : undefined;

  // Every flag is checked: the embedded database starts opening now (a failure is reported
  // when startServer takes it), and the server's modules load meanwhile.
  let embedded: Promise<EmbeddedDatabase> | undefined;
  if (database.kind === 'pglite') {
    embedded = openEmbeddedDatabase(database.dataDir);
    embedded.catch(() => undefined);
  }
  try {
    return await serveNode({ flags, database, embedded, routingFile, http, level, adminToken, admin, nodeId, allowedOrigins, natsUrl, natsPrefix, keyDir, signer, origin, metrics, otlpEndpoint });
  } catch (error) {
    // startServer closes what it was given; this covers a failure before it ran (a routing file).
    if (embedded) await closeEmbeddedDatabase(embedded);
    throw error;
  }
}

/** What `runServe` checked, for {@link serveNode}. */
interface ServeSettings {
  readonly flags: { readonly host?: string | undefined; readonly port?: string | undefined; readonly 'migrate-vrf-key': boolean };
  readonly database: DatabaseConfig;
  readonly embedded: Promise<EmbeddedDatabase> | undefined;
  readonly routingFile: string | undefined;
  readonly http: { maxConnectionsPerIp?: number; requestTimeoutMs?: number };
  readonly level: ReturnType<typeof parseLogLevel>;
  readonly adminToken: string;
  readonly admin: { readonly source: string };
  readonly nodeId: string;
  readonly allowedOrigins: readonly string[];
  readonly natsUrl: string | undefined;
  readonly natsPrefix: string | undefined;
  readonly keyDir: string;
  readonly signer: string | undefined;
  readonly origin: string | undefined;
  readonly metrics: { token?: string; listen?: { host: string; port: number } } | undefined;
  readonly otlpEndpoint: string | undefined;
}

/** Loads the server's modules, starts the node and runs it until SIGTERM or SIGINT. */
async function serveNode(settings: ServeSettings): Promise<ExitCode> {
  const { flags, database, embedded, routingFile, http, level, adminToken, admin, nodeId, allowedOrigins, natsUrl, natsPrefix, keyDir, signer, origin, metrics, otlpEndpoint } = settings;
  const [{ startServer }, { loadRoutingConfig }, { serveWarnings }] = await Promise.all([import('@parley/server'), import('../routing-config.js'), import('../serve-warnings.js')]);
  // Providers and per-business policies (routing-config.ts); without it: the app channel only.
  const routing = routingFile ? await loadRoutingConfig(resolve(routingFile)) : undefined;
  const server = await startServer({
    http,
    host: flags.host ?? '127.0.0.1',
    port: parsePort(flags.port ?? process.env['PORT'], 8080),
    database,
    adminToken,
    nodeId,
    allowedOrigins,
    ...(natsUrl ? { nats: { url: natsUrl, ...(natsPrefix ? { subjectPrefix: natsPrefix } : {}) } } : {}),
    log: { level },
    keys: { dir: keyDir, ...(signer !== undefined ? { signer, migrateVrfKey: flags['migrate-vrf-key'] } : {}) },
    ...(origin ? { tlog: { origin } } : {}),
    ...(routing ? { routing } : {}),
    ...(metrics ? { metrics } : {}),
    ...(otlpEndpoint ? { tracing: { otlpEndpoint, ...(process.env['OTEL_SERVICE_NAME'] ? { serviceName: process.env['OTEL_SERVICE_NAME'] } : {}) } } : {}),
    // The operator console's page (/console/): the CLI's build, or PARLEY_CONSOLE_DIR.
    console: { assetsDir: await consoleAssetsDir(process.env['PARLEY_CONSOLE_DIR']) },
  }, embedded ? { embedded } : {}).catch((error: unknown) => {
    // A configuration the server refuses (a signer URI naming an object, …) is a usage error.
    if (isParleyError(error) && error.code === 'invalid_config') throw new UsageError(error.message, { cause: error });
    throw error;
  });
  const where = database.kind === 'pglite' ? `embedded PGlite at ${database.dataDir}` : `PostgreSQL${natsUrl ? ', NATS notices' : ''}`;
  // The handlers are in place before anyone can learn the URL: a signal right after the
  // "listening" line drains and stops, instead of killing the process by default.
  // stdout is the JSON log stream alone: the node's life-cycle lines are log lines too, written
  // whatever --log-level says (a child logger at info), so a supervisor always sees them.
  const lifecycle = server.log.child({}, { level: 'info' });
  const stopped = new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      lifecycle.info({ signal }, `parley: ${signal} received, draining and stopping…`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      server.stop().then(resolveStop, resolveStop);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  lifecycle.info({ url: server.url }, `parley listening on ${server.url} (${where}; node ${nodeId})`);
  if (routing) {
    const channels = Object.entries(routing.channels ?? {}).map(([k, c]) => (c ? `${k}=${c.name}` : k));
    lifecycle.info({ channels }, `routing: channels ${channels.join(', ') || 'none'}; ${Object.keys(routing.businesses ?? {}).length} business policies`);
  }
  if (server.metricsUrl) lifecycle.info({ metricsUrl: `${server.metricsUrl}/metrics` }, `metrics on ${server.metricsUrl}/metrics (not on the main port)`);
  process.stderr.write(`${admin.source}\n`);
  // What this configuration cannot do: on stderr, and in the JSON log stream.
  for (const w of serveWarnings({ database, adminToken, routing, metrics: metrics ?? {} })) {
    process.stderr.write(`warning: ${w.message}\n`);
    server.log.warn({ warning: w.code }, w.message);
  }
  // The same document as GET /v1/logs: what verifiers need (`parley log verify --key …`).
  lifecycle.info({ logs: [server.keyLog.describe(), server.auditLog.describe()] }, 'transparency logs');

  await stopped;
  lifecycle.info('parley stopped');
  return 0;
}

/**
 * `--allowed-origins` / `PARLEY_ALLOWED_ORIGINS`: comma-separated exact origins
 * (`scheme://host[:port]`, no path, no wildcard) whose web pages may call the API;
 * normalised as the server does. Absent or empty: same-origin only. A bad entry is a
 * {@link UsageError}.
 *
 * @example
 * parseAllowedOrigins('https://app.bank.example,https://Admin.bank.example:443')
 * // ['https://app.bank.example', 'https://admin.bank.example']
 */
export function parseAllowedOrigins(value: string | undefined): readonly string[] {
  if (value === undefined) return [];
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  try {
    // The server's own normalisation and checks (http/origins.ts, as config.ts applies them), without starting anything.
    return normaliseOrigins(items);
  } catch (error) {
    if (isParleyError(error) && error.code === 'invalid_config') {
      throw new UsageError(`--allowed-origins: ${error.message} (e.g. --allowed-origins https://app.bank.example,https://admin.bank.example:8443)`);
    }
    throw error;
  }
}

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (host 127.0.0.1). */
function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(value);
  if (!m) throw new UsageError(`${flag} must be HOST:PORT, e.g. 127.0.0.1:9464`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: parsePort(m[3], 0) };
}

/** A secret from a file (trimmed; refused when other users can read it); never echoed. */
async function readTokenFile(file: string, flag: string): Promise<string> {
  const token = await readSecretFile(resolve(file), `${flag} file`);
  if (token.length < 16) throw new UsageError(`${flag}: the token in ${file} must have at least 16 characters`);
  return token;
}

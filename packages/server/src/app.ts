/**
 * Assembles a Parley server node: storage, migrations, relay, HTTP API,
 * WebSocket gateway, OpenAPI document, health endpoints and the retention sweep.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { Logger } from 'pino';
import { loadSuite } from '@parley/core/mls';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { resolveConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { createLogger } from './logger.js';
import { LazySchemas } from './http/lazy-compilers.js';
import type { Database } from './storage/database.js';
import { closeEmbeddedDatabase, openEmbeddedDatabase, type EmbeddedDatabase } from './storage/embedded-open.js';
import { PostgresDatabase } from './storage/postgres.js';
import { latestMigrationVersion, migrate } from './storage/migrate.js';
import { checkKeyDir, type DataDirLock } from './storage/private-dir.js';
import { claimJob, finishJob } from './storage/cluster-jobs.js';
import { ServerSecrets } from './crypto/server-secrets.js';
import { resolveDeploymentNames } from './deployment.js';
import { sweepEnvelopes } from './repos/mailbox.js';
import { sweepExpiredKeyPackages } from './repos/key-packages.js';
import { Relay } from './relay/relay.js';
import { InProcessNotifier, type MailNotifier } from './relay/notifier.js';
import type { NatsNotifier } from './relay/nats-notifier.js';
import { ConnectionRegistry } from './ws/connection.js';
import { CLOSE, registerGateway, websocketErrorHandler } from './ws/gateway.js';
import { SessionIssuer } from './http/sessions.js';
import { clientErrorHandler, frameworkErrors, installErrorHandling } from './http/errors.js';
import { installJsonBodyParser } from './http/json-body.js';
import { installOpenApi } from './http/openapi.js';
import { limitedServerFactory } from './http/connection-limits.js';
import { OriginPolicy, installCors } from './http/cors.js';
import { DeviceStatusCache, type RouteContext } from './http/context.js';
import { BusinessStatusCache } from './business-status.js';
import { registerDirectoryRoutes } from './http/routes/directory.js';
import { registerKeyRotationRoutes } from './http/routes/key-rotation.js';
import { registerDeviceSuitesRoutes } from './http/routes/device-suites.js';
import { registerBackupRoutes } from './http/routes/backups.js';
import { registerRecoveryRoutes } from './http/routes/recovery.js';
import { registerBlobRoutes } from './http/routes/blobs.js';
import { registerDiagnosticsRoutes } from './http/routes/diagnostics.js';
import { Blobs } from './blobs/blobs.js';
import { KeyDirectory } from './directory/directory.js';
import { loadVrfKey } from './directory/vrf-key.js';
import { loadWrappedVrfKey } from './directory/vrf-key-wrapped.js';
import { closeHsmKeys } from './tlog/hsm-keys.js';
import { registerRegistryRoutes } from './http/routes/registry.js';
import { registerAdminRoutes } from './http/routes/admin.js';
import { registerKeyPackageRoutes } from './http/routes/key-packages.js';
import { registerMessageRoutes } from './http/routes/messages.js';
// --- transparency logs (tlog engine)
import { openAuditLog, openKeyLog, type TransparencyLog } from './tlog/index.js';
import { AuditService } from './audit/audit-service.js';
import { registerAuditRoutes } from './http/routes/audit.js';
import { registerLogRoutes } from './http/routes/logs.js';
// --- capability-aware routing
import { Router } from './routing/router.js';
import { businessRouting } from './routing/routing-config.js';
import { Retrieval } from './routing/retrieval.js';
import { RoutingMetrics, policyClasses, serveMetrics } from './routing/metrics.js';
import { Tracing } from './observability/tracing.js';
import { installObservability, installWebSocketObservability } from './observability/install-observability.js';
import { registerRoutingRoutes } from './http/routes/routing.js';
import { registerEscrowRoutes } from './http/routes/escrow.js';
import { EscrowGate } from './escrow/escrow-gate.js';
import { EscrowService } from './escrow/escrow-service.js';
import { registerConsole } from './console/index.js';

export interface ParleyServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly config: ServerConfig;
  readonly db: Database;
  readonly log: Logger;
  /** The key transparency log (served under /logs/keys/). */
  readonly keyLog: TransparencyLog;
  readonly auditLog: TransparencyLog;
  /** The Fastify instance (tests use `inject`). */
  readonly http: FastifyInstance;
  /** Authenticated device WebSockets registered on this node. */
  socketCount(): number;
  /** Base URL of the separate metrics listener (`config.metrics.listen`), when there is one. */
  readonly metricsUrl?: string;
  /** The blob store's service (`/v1/blobs`); its `sweep` also runs with the retention sweep. */
  readonly blobs: Blobs;
  /** Spans of the message path ({@link Tracing.off} unless `config.tracing` names an exporter); `stop` flushes them. */
  readonly tracing: Tracing;
  /** Stops accepting work, drains WebSockets and queued writes, closes storage. */
  stop(): Promise<void>;
}

/**
 * Opens the store. An embedded data directory must be private (0700, this user's) and is
 * locked for as long as this node runs: a second server on it is refused at start.
 */
async function openDatabase(config: ServerConfig, early: Promise<EmbeddedDatabase> | undefined): Promise<{ db: Database; lock?: DataDirLock }> {
  const d = config.database;
  // The database `parley serve` opened early is taken when it is the one configured.
  const opened = early ? await early : undefined;
  if (opened && d.kind === 'pglite' && opened.dataDir === d.dataDir) return opened;
  if (early) await closeEmbeddedDatabase(early);
  if (d.kind === 'postgres') {
    const db = new PostgresDatabase({
      connectionString: d.url,
      ...(d.schema ? { schema: d.schema } : {}),
      ...(d.maxConnections ? { maxConnections: d.maxConnections } : {}),
    });
    return { db };
  }
  return openEmbeddedDatabase(d.dataDir);
}

/** How {@link startServer} starts, beyond its configuration. */
export interface StartOptions {
  /**
   * The embedded database, already being opened (`openEmbeddedDatabase` from
   * `@parley/server/boot`, called before this package's modules loaded): taken when it is
   * the configured data directory, closed otherwise and when the start fails before it.
   */
  readonly embedded?: Promise<EmbeddedDatabase>;
}

/**
 * Starts a server node and resolves once it listens.
 *
 * @example
 * const server = await startServer({ port: 8080, database: { kind: 'pglite', dataDir: './data' } })
 * console.log(server.url)
 * await server.stop()
 */
const READY_TIMEOUT_MS = 2_000;
/** Longest wait for sockets and in-flight HTTP requests to finish on shutdown. */
const SHUTDOWN_DRAIN_MS = 5_000;
/** Mailbox rescans of all connections (after lost notices) are spread over this long. */
const RESCAN_SPREAD_MS = 1_000;

/** Rejects when `promise` takes longer than `ms` (a readiness probe must answer while the database hangs). */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), ms);
    }),
  ]);
}

export async function startServer(input: ServerConfigInput = {}, options: StartOptions = {}): Promise<ParleyServer> {
  let config: ServerConfig;
  let log: Logger;
  try {
    config = resolveConfig(input);
    log = createLogger(config);
    // Secrets on disk are checked before anything is opened (a refusal costs nothing).
    if (config.keys.dir !== undefined) await checkKeyDir(config.keys.dir);
  } catch (error) {
    if (options.embedded) await closeEmbeddedDatabase(options.embedded);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const { db, lock } = await openDatabase(config, options.embedded);
  let keyLog: TransparencyLog | undefined;
  let auditLog: TransparencyLog | undefined;
  let router: Router | undefined;
  let metricsListener: { url: string; close(): Promise<void> } | undefined;
  let nats: NatsNotifier | undefined;
  let blobs: Blobs | undefined;
  let tracingForStop: Tracing | undefined;
  try {
    const applied = await migrate(db);
    if (applied.length > 0) log.info({ versions: applied, engine: db.engine }, 'migrations applied');
    const secrets = await ServerSecrets.load(config.keys.dir, log);
    const latest = await latestMigrationVersion();
    // --- transparency logs (tlog engine): open after migrations, loop started below
    const names = await resolveDeploymentNames(db, config);
    const opened = await openKeyLog(db, config, names.keyLogOrigin, log);
    keyLog = opened.keyLog;
    // With keys.signer the VRF key is kept wrapped by the token (vrf-key-wrapped.ts).
    const vrfKey = config.keys.signer === undefined ? await loadVrfKey(config.keys.dir, log) : await loadWrappedVrfKey({ dir: config.keys.dir, signer: config.keys.signer, migrate: config.keys.migrateVrfKey === true, log });
    const directory = new KeyDirectory(db, keyLog, vrfKey, opened.signer, log);
    auditLog = await openAuditLog(db, config, names.auditLogOrigin, log);
    // Escrow: policies naming a registered key are checked against it before serving.
    const escrowGate = new EscrowGate(db, config.routing);
    await escrowGate.checkConfiguredKeys();
    const audit = new AuditService(db, auditLog, directory, log, (id) => businessRouting(config.routing, id).senderKinds ?? ['sender'], escrowGate);

    // Class labels: only the classes the policy configuration names (others are `other`).
    const metrics = new RoutingMetrics(config.nodeId, policyClasses(config.routing));
    // Traces: off (no-op) unless an OTLP endpoint or a span file is configured (docs/observability.md).
    const tracing = (tracingForStop = Tracing.create(config.tracing, secrets.derive('trace-pseudonym-key'), config.nodeId));
    router = new Router(db, config.routing, secrets.derive('recipient-pseudonym-key'), metrics, log, tracing);
    const retrieval = new Retrieval(db, router, metrics, secrets.derive('retrieval-otp-key'), log, audit);

    const registry = new ConnectionRegistry(config.limits.mailboxPollIntervalMs);
    let notifier: MailNotifier;
    if (config.nats) {
      // Until the first connection (and whenever NATS is down) connections poll their mailboxes fast.
      registry.setPollInterval(config.limits.degradedPollIntervalMs);
      let wasConnected = false;
      // Loaded only for a cluster node: the NATS client is ~55 modules a single node never needs.
      const { NatsNotifier } = await import('./relay/nats-notifier.js');
      nats = new NatsNotifier({
        url: config.nats.url,
        subjectPrefix: names.natsPrefix,
        nodeId: config.nodeId,
        local: registry,
        log,
        reconnectWaitMs: config.nats.reconnectWaitMs,
        onStateChange: (connected) => {
          registry.setPollInterval(connected ? config.limits.mailboxPollIntervalMs : config.limits.degradedPollIntervalMs);
          // Notices published while the link was down are gone: every connection reads its mailbox once.
          if (connected && wasConnected) registry.rescanAll(RESCAN_SPREAD_MS);
          if (connected) wasConnected = true;
        },
        // A node died between commits and their notices: read the mailboxes now rather than at the next poll.
        onPeerLost: () => registry.rescanAll(RESCAN_SPREAD_MS),
      });
      registry.setInterest(nats);
      await nats.start(config.nats.connectWaitMs);
      if (!nats.connected) log.warn({ url: config.nats.url }, 'NATS not reachable yet: serving with mailbox polling, not ready until it connects');
      notifier = nats;
    } else {
      notifier = new InProcessNotifier(registry);
    }
    const blobService = (blobs = await Blobs.open(config, db, log));
    const businessStatus = new BusinessStatusCache(db);
    const relay = new Relay(db, config, notifier, log, audit, config.routing.enabled === false ? undefined : router, businessStatus, tracing);

    // Route schemas compile on first use, and all of them right after the node listens (http/lazy-compilers.ts).
    const schemas = new LazySchemas();
    const app: FastifyInstance = Fastify({
      // pino's Logger is a FastifyBaseLogger; the cast only widens the generic.
      loggerInstance: log as FastifyBaseLogger,
      // Not Fastify's two lines per request: one access line, written by observability/http-observability.ts.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: 4 * 1024 * 1024,
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
      schemaController: { compilersFactory: schemas.factory() },
      return503OnClosing: true,
      forceCloseConnections: 'idle',
      serverFactory: limitedServerFactory(config.http, log),
      // Request ids are ours (never taken from a header): 5xx answers carry one, the log line names it.
      genReqId: () => randomUUID(),
      // Errors raised before any route runs (router, HTTP parser) in the API's error shape too.
      frameworkErrors,
      clientErrorHandler,
    });
    installErrorHandling(app);
    // Access log line per request, auth-failure lines, HTTP / database / backlog metrics (docs/observability.md).
    installObservability(app, metrics.registry, db, log);
    installJsonBodyParser(app);
    // Browsers: only listed origins (and the server's own pages) may call the API or open the WebSocket.
    installCors(app, new OriginPolicy(config.allowedOrigins, config.routing.publicUrl));
    // Before any route: the document names the routes' schemas as they are registered (serves /openapi.json).
    const routerForDocs = router;
    installOpenApi(app, { publicUrl: () => routerForDocs.publicUrl });
    await app.register(websocket, {
      options: { maxPayload: 4 * 1024 * 1024 },
      errorHandler: websocketErrorHandler,
      // On shutdown, sockets not yet authenticated (the others were closed by the registry) get 1001 too.
      preClose(done) {
        for (const client of app.websocketServer.clients) client.close(CLOSE.shuttingDown, 'server shutting down');
        done();
      },
    });

    const ctx: RouteContext = {
      config,
      db,
      keyLog,
      auditLog,
      audit,
      directory,
      deviceStatus: new DeviceStatusCache(db),
      businessStatus,
      routing: { router, retrieval, metrics },
      escrow: { gate: escrowGate, service: new EscrowService(db, auditLog, log) },
      relay,
      sessions: new SessionIssuer(secrets.derive('session-mac-key'), config.auth.sessionTtlSeconds),
      // Every suite Parley offers: the server verifies KeyPackages of each (docs/post-quantum.md);
      // the provider builds each suite once, on first use.
      suite: (name) => loadSuite(name, nodeCryptoProvider),
      notifier,
      blobs: blobService,
      log,
    };
    registerRegistryRoutes(app, ctx);
    registerAdminRoutes(app, ctx);
    registerKeyPackageRoutes(app, ctx);
    registerMessageRoutes(app, ctx);
    registerLogRoutes(app, ctx);
    registerDirectoryRoutes(app, ctx);
    registerKeyRotationRoutes(app, ctx);
    registerDeviceSuitesRoutes(app, ctx);
    registerBackupRoutes(app, ctx);
    registerRecoveryRoutes(app, ctx);
    registerBlobRoutes(app, ctx);
    registerDiagnosticsRoutes(app, ctx);
    registerAuditRoutes(app, ctx);
    registerRoutingRoutes(app, ctx);
    registerEscrowRoutes(app, ctx);
    // The operator console: its page under /console/ and its API under /console/api/ (console/).
    registerConsole(app, ctx);
    registerGateway(app, ctx, registry);
    installWebSocketObservability(app, metrics.registry, () => registry.size);

    // Liveness: the process answers. Readiness: it can do its work (load balancers route by it).
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok', node: config.nodeId }));
    app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
      const notReady = (reason: string) => reply.status(503).send({ status: 'not-ready', node: config.nodeId, reason });
      if (stopping) return notReady('shutting down');
      let current: number;
      try {
        current = await withTimeout(
          (async () => {
            await db.ping();
            const rows = await db.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
            return Number(rows[0]?.v ?? 0);
          })(),
          READY_TIMEOUT_MS,
        );
      } catch {
        return notReady('database unreachable');
      }
      if (current < latest) return notReady('migrations pending');
      if (nats && !nats.connected) return notReady('nats disconnected');
      return { status: 'ready', node: config.nodeId, engine: db.engine, migration: current, nats: nats ? 'connected' : 'not configured' };
    });

    const sweep = async () => {
      // Once per interval across the cluster: the node that claims this interval's run sweeps.
      // (90 %: timers of different nodes drift; the claim compares on the database clock.)
      const claim = await claimJob(db, 'retention-sweep', config.retention.sweepIntervalMs * 0.9, config.nodeId);
      if (!claim) return;
      const counts = { ...(await sweepEnvelopes(db, config.retention.idempotencyWindowSeconds)), keyPackages: await sweepExpiredKeyPackages(db), blobs: (await blobService.sweep()).ended };
      if (counts.expired + counts.forgotten + counts.keyPackages + counts.blobs > 0) log.info({ ...counts, run: claim.fence }, 'retention sweep');
      // PostgreSQL's autovacuum reclaims acknowledged deliveries; PGlite has no autovacuum.
      if (db.engine === 'pglite') {
        // One statement per exec: several in one script run as one transaction block, where VACUUM is refused.
        await db.exec('VACUUM deliveries');
        await db.exec('VACUUM envelopes');
      }
      await finishJob(db, claim);
    };
    const sweeper = setInterval(() => {
      sweep().catch((error: unknown) => log.warn({ err: error }, 'retention sweep failed'));
    }, config.retention.sweepIntervalMs);
    sweeper.unref();

    keyLog.start();
    auditLog.start();
    await app.listen({ host: config.host, port: config.port });
    void schemas.compileAll((error: unknown) => log.error({ err: error }, 'a route schema does not compile'), 1_000);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    router.publicUrl = config.routing.publicUrl ?? url;
    if (config.routing.enabled !== false) router.start();
    if (config.metrics.listen) metricsListener = await serveMetrics(metrics.registry, config.metrics.listen.host, config.metrics.listen.port);
    log.info({ url, engine: db.engine }, 'parley server listening');

    return {
      url,
      config,
      db,
      log,
      keyLog,
      auditLog,
      http: app,
      socketCount: () => registry.size,
      blobs: blobService,
      tracing,
      ...(metricsListener ? { metricsUrl: metricsListener.url } : {}),
      stop() {
        // Order: not ready at once; sockets get their queued frames and a 1001 (clients
        // reconnect to another node); the HTTP server stops accepting and finishes the
        // requests in flight; queued writes commit; background loops finish their batch;
        // notices still queued go out on NATS; storage closes last.
        stopping ??= (async () => {
          clearInterval(sweeper);
          registry.closeAll(CLOSE.shuttingDown, 'server shutting down');
          // Bounded: a peer that never answers the close handshake (ws waits 30 s) or a
          // request that never ends cannot hold the shutdown; after the deadline the rest
          // of the connections are cut.
          const closed = app.close();
          let deadline: NodeJS.Timeout | undefined;
          const cut = await Promise.race([
            closed.then(() => false),
            new Promise<boolean>((resolve) => (deadline = setTimeout(() => resolve(true), SHUTDOWN_DRAIN_MS))),
          ]);
          clearTimeout(deadline);
          if (cut) {
            log.warn({ drainMs: SHUTDOWN_DRAIN_MS }, 'shutdown: connections still open after the drain deadline; cutting them');
            for (const client of app.websocketServer.clients) client.terminate();
            app.server.closeAllConnections();
            await closed;
          }
          await relay.drain();
          await router!.stop();
          await metricsListener?.close();
          // The spans of the work just drained go out before the exporter stops (bounded).
          await tracing.shutdown();
          await keyLog!.stop();
          await auditLog!.stop();
          await closeHsmKeys(config);
          await nats?.close();
          await blobService.close();
          await db.close();
          await lock?.release();
          log.info('parley server stopped');
        })();
        return stopping;
      },
    };
  } catch (error) {
    await nats?.close().catch(() => {});
    await router?.stop().catch(() => {});
    await metricsListener?.close().catch(() => {});
    await tracingForStop?.shutdown();
    await keyLog?.stop().catch(() => {});
    await auditLog?.stop().catch(() => {});
    await closeHsmKeys(config);
    await blobs?.close().catch(() => {});
    await db.close().catch(() => {});
    await lock?.release();
    throw error;
  }
}

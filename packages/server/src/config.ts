/** Server configuration: every knob with its default, in one place. */
import { join } from 'node:path';
import type { DestinationStream, Level } from 'pino';
import type { RoutingConfig } from './routing/routing-config.js';
import { normaliseOrigins } from './http/origins.js';
import { checkSignerUri } from './tlog/hsm-keys.js';
import { LIMITS } from '@parley/core';
import type { TracingConfig } from './observability/tracing.js';

export type DatabaseConfig =
  | { readonly kind: 'pglite'; /** omitted: in memory */ readonly dataDir?: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string; readonly maxConnections?: number };

export interface NatsConfig {
  /** Server URL(s), comma-separated, e.g. `nats://127.0.0.1:4222`. */
  readonly url: string;
  /**
   * First token(s) of every subject; the nodes of one deployment share it. Default:
   * `parley.<deployment id>` (deployment.ts), so deployments on one NATS never mix.
   */
  readonly subjectPrefix: string | undefined;
  /** Wait between reconnect attempts (the client reconnects forever). */
  readonly reconnectWaitMs: number;
  /** How long start-up waits for the first connection before serving without it (not ready). */
  readonly connectWaitMs: number;
}

export interface ServerConfig {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly database: DatabaseConfig;
  /** Bearer token for /v1/admin/*; admin API disabled when absent. */
  readonly adminToken: string | undefined;
  /** Name of this node in logs and metrics. */
  readonly nodeId: string;
  /**
   * Web origins (`scheme://host[:port]`, exact, normalised: lowercase, default port dropped)
   * whose pages may call the HTTP API and open the WebSocket (CORS, WebSocket `Origin`
   * check). Default `[]`: same-origin only. No wildcard.
   */
  readonly allowedOrigins: readonly string[];
  readonly limits: {
    /** Largest MLS message accepted, in bytes (413 above); at most the wire schema's `LIMITS.messageBytes`, which HTTP and WebSocket validation enforce. */
    readonly maxMessageBytes: number;
    /** Envelopes per mailbox page and per WebSocket delivery frame. */
    readonly mailboxPageSize: number;
    /** Unacknowledged envelopes in flight per WebSocket before the server pauses pushing. */
    readonly maxInFlightPerSocket: number;
    /** WebSocket send buffer above which pushing pauses (bytes). */
    readonly socketHighWaterBytes: number;
    /** Each connection re-reads its mailbox this often, in case a notice was lost. */
    readonly mailboxPollIntervalMs: number;
    /** The poll interval while NATS (cross-node notices) is configured but unreachable: delivery goes on by fetch. */
    readonly degradedPollIntervalMs: number;
    /** Open WebSockets per device; a new one closes the oldest beyond this (code 4008). */
    readonly maxSocketsPerDevice: number;
    /** `POST /v1/routes/status` calls per sending device and minute (up to 100 ids each; 429 `rate_limited` beyond). */
    readonly routeStatusPerMinute: number;
  };
  /** Connection limits: slow or hoarding clients cannot hold the node. */
  readonly http: {
    /** Longest time to receive a whole request, headers and body (slower: 408, connection closed). */
    readonly requestTimeoutMs: number;
    /** Longest time to receive a request's headers. */
    readonly headersTimeoutMs: number;
    /** A connection idle this long is closed (WebSockets are kept alive by pings instead). */
    readonly idleTimeoutMs: number;
    /** How long an idle keep-alive connection stays open between requests. */
    readonly keepAliveTimeoutMs: number;
    /** Open connections from one IP address (0: no cap; behind a load balancer, cap there instead). */
    readonly maxConnectionsPerIp: number;
    /** Open connections in all (0: no cap). */
    readonly maxConnections: number;
  };
  /**
   * Cross-node notices over NATS ("device X has mail"; ids only, never ciphertext).
   * Absent: the in-process notifier (one node, or several nodes that learn of other
   * nodes' mail by polling).
   */
  readonly nats: NatsConfig | undefined;
  readonly retention: {
    /** How long an unacknowledged message waits in a mailbox. */
    readonly messageTtlSeconds: number;
    /** How long an idempotency key is remembered after acceptance. */
    readonly idempotencyWindowSeconds: number;
    /** Interval of the cleanup sweep. */
    readonly sweepIntervalMs: number;
  };
  readonly auth: {
    readonly sessionTtlSeconds: number;
    readonly challengeTtlSeconds: number;
    /** Longest accepted exp − iat of an enrollment token. */
    readonly maxEnrollmentTokenLifetimeSeconds: number;
  };
  readonly keyPackages: {
    /** Below this many one-time KeyPackages the owner is told to upload more. */
    readonly lowWatermark: number;
    /** Claims per minute per (requester, target device). */
    readonly claimsPerMinute: number;
    /** Claims per minute per target device, across all requesters. */
    readonly claimsPerTargetPerMinute: number;
  };
  readonly batching: {
    /** Most envelopes written in one group commit. */
    readonly maxBatch: number;
  };
  readonly log: {
    readonly level: Level | 'silent';
    /** Where JSON log lines go (default stdout). */
    readonly destination?: DestinationStream;
  };
  // --- transparency logs (tlog engine) ------------------------------------------
  readonly keys: {
    /**
     * Directory of the server's signing keys (the key log's note key, mode 0600).
     * Default: `<dataDir>/keys` with embedded PGlite on disk; none otherwise, which means
     * an ephemeral key (tests only). Nodes sharing a PostgreSQL must share this.
     */
    readonly dir: string | undefined;
    /**
     * A PKCS#11 URI (RFC 7512) naming a token, without `object`: both logs' checkpoint keys
     * are Ed25519 keys in it (`parley-tlog-keys`, `parley-tlog-audit`, generated there on
     * first start) and the VRF key is kept wrapped by its AES key `parley-wrap`
     * (`<dir>/vrf.key.wrapped`). The PIN comes from `pin-source=file:` (mode 0600) or
     * PARLEY_PKCS11_PIN, never from the URI. Unset: key files in `dir`.
     */
    readonly signer?: string | undefined;
    /** With `signer`: wrap an existing plain `<dir>/vrf.key` into the token once, then delete it. */
    readonly migrateVrfKey?: boolean | undefined;
  };
  /** Capability-aware routing: channels (provider adapters), per-business policies and templates. */
  readonly routing: RoutingConfig;
  /** Who may read the Prometheus metrics. */
  readonly metrics: {
    /** With no `listen`: `/metrics` on the main port needs `Authorization: Bearer` this token (or the admin token). */
    readonly token: string | undefined;
    /** Serve `/metrics` only on this separate listener (no authentication there; keep it private), not on the main port. */
    readonly listen: { readonly host: string; readonly port: number } | undefined;
  };
  /**
   * The blob store (`/v1/blobs`): attachment ciphertext, uploaded in pieces (blobs/).
   * Usage per business counts every blob's declared size from creation until deletion.
   */
  readonly blobs: {
    /**
     * Where blob bytes live: `fs` (one file per blob in `dir`, fsync'd) or `database` (256 KiB
     * rows in `blob_chunks`). Default: `fs` with embedded PGlite, `database` with PostgreSQL
     * (nodes sharing a PostgreSQL then share the blobs; `fs` there needs a `dir` all nodes share).
     */
    readonly store: 'fs' | 'database';
    /**
     * The `fs` store's directory (0700; files 0600). Default: `<dataDir>/blobs` with PGlite on
     * disk; with in-memory PGlite a private temporary directory removed at stop; with
     * PostgreSQL it must be set to use `fs`.
     */
    readonly dir: string | undefined;
    /** Largest blob, in bytes of ciphertext (413 `blob_too_large` above). Default 128 MiB. */
    readonly maxBlobBytes: number;
    /** Bytes of blobs (declared sizes, complete or uploading) per business (413 `blob_quota_exceeded` beyond). Default 10 GiB. */
    readonly businessQuotaBytes: number;
    /** Bytes of blobs per customer identity (413 `blob_quota_exceeded` with details.quota `identity`), so one customer cannot use up the business's quota; the business's own identities answer to its quota alone. Default 1 GiB. */
    readonly identityQuotaBytes: number;
    /** An upload not completed this long after its creation is dropped. Default 24 h. */
    readonly uploadTtlSeconds: number;
    /** A complete blob is kept at least this long after completion, then deleted once every recipient device fetched it (or if never shared). Default 7 days. */
    readonly retentionSeconds: number;
    /** No blob is kept longer than this after its creation, fetched or not. Default 30 days. */
    readonly maxAgeSeconds: number;
    /** Blob creations per customer identity and minute (a burst of as many; 429 `rate_limited` beyond). Default 60. */
    readonly createsPerMinute: number;
    /** Blob creations per minute by a business's own identities together (its sender, agents, bots: statements for many customers). Default 6000. */
    readonly businessCreatesPerMinute: number;
  };
  /** The operator console (`/console/`: the page and its API under `/console/api/`; console/). */
  readonly console: {
    /** Serve the console (default true). */
    readonly enabled: boolean;
    /** Directory of the built page (index.html and its assets); absent: `GET /console/` answers 404 `console_not_built`. */
    readonly assetsDir: string | undefined;
    /** Mark the session cookie `Secure` on every request (behind a TLS proxy); otherwise only on requests that came over https. */
    readonly secureCookies: boolean;
    /** A console session unused this long ends (default 30 min). */
    readonly sessionIdleSeconds: number;
    /** A console session ends this long after login, used or not (default 12 h). */
    readonly sessionMaxSeconds: number;
    /** Failed logins per operator name and per client address within `loginWindowSeconds` before 429 `login_rate_limited` (default 10). */
    readonly loginAttempts: number;
    /** The window of `loginAttempts` (default 15 min; the allowance refills evenly over it). */
    readonly loginWindowSeconds: number;
  };
  /**
   * OpenTelemetry traces of the message path (docs/observability.md, "Traces"): off (no-op)
   * unless `otlpEndpoint` or `fileExporterPath` is set.
   */
  readonly tracing: TracingConfig;
  readonly tlog: {
    /**
     * Checkpoint origin (and key name) of the key log: its URL prefix without scheme.
     * Default: the origin the log already has, else one unique to this deployment (deployment.ts).
     */
    readonly origin: string | undefined;
    /** Checkpoint origin (and key name) of the audit log (default as for `origin`). */
    readonly auditOrigin: string | undefined;
    /** Most entries sequenced per batch. */
    readonly batchSize: number;
    /** Re-sign the unchanged checkpoint this often. */
    readonly heartbeatMs: number;
  };
}

export type ServerConfigInput = Partial<Omit<ServerConfig, 'limits' | 'http' | 'retention' | 'auth' | 'keyPackages' | 'batching' | 'log' | 'keys' | 'tlog' | 'routing' | 'nats' | 'metrics' | 'blobs' | 'console' | 'tracing'>> & {
  /** Enables cross-node notices; only `url` is required. */
  nats?: Partial<NatsConfig> & { url: string };
  routing?: Partial<RoutingConfig>;
  /** `listen.host` defaults to 127.0.0.1. */
  metrics?: { token?: string; listen?: { host?: string; port: number } };
  limits?: Partial<ServerConfig['limits']>;
  http?: Partial<ServerConfig['http']>;
  retention?: Partial<ServerConfig['retention']>;
  auth?: Partial<ServerConfig['auth']>;
  keyPackages?: Partial<ServerConfig['keyPackages']>;
  batching?: Partial<ServerConfig['batching']>;
  log?: Partial<ServerConfig['log']>;
  keys?: Partial<ServerConfig['keys']>;
  tlog?: Partial<ServerConfig['tlog']>;
  blobs?: Partial<ServerConfig['blobs']>;
  console?: Partial<ServerConfig['console']>;
  tracing?: Partial<TracingConfig>;
};

export function resolveConfig(input: ServerConfigInput = {}): ServerConfig {
  const database: DatabaseConfig = input.database ?? { kind: 'pglite' };
  return {
    host: input.host ?? '127.0.0.1',
    port: input.port ?? 0,
    database,
    adminToken: input.adminToken,
    nodeId: input.nodeId ?? 'node-1',
    allowedOrigins: normaliseOrigins(input.allowedOrigins ?? []),
    nats: input.nats ? { subjectPrefix: undefined, reconnectWaitMs: 500, connectWaitMs: 5_000, ...input.nats } : undefined,
    limits: {
      maxMessageBytes: LIMITS.messageBytes,
      mailboxPageSize: 100,
      maxInFlightPerSocket: 1000,
      socketHighWaterBytes: 4 * 1024 * 1024,
      mailboxPollIntervalMs: 30_000,
      degradedPollIntervalMs: 1_000,
      maxSocketsPerDevice: 16,
      routeStatusPerMinute: 600,
      ...input.limits,
    },
    http: {
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 60_000,
      keepAliveTimeoutMs: 72_000,
      maxConnectionsPerIp: 1_024,
      maxConnections: 16_384,
      ...input.http,
    },
    retention: {
      messageTtlSeconds: 14 * 24 * 3600,
      idempotencyWindowSeconds: 24 * 3600,
      sweepIntervalMs: 60_000,
      ...input.retention,
    },
    auth: {
      sessionTtlSeconds: 900,
      challengeTtlSeconds: 60,
      maxEnrollmentTokenLifetimeSeconds: 900,
      ...input.auth,
    },
    keyPackages: { lowWatermark: 10, claimsPerMinute: 30, claimsPerTargetPerMinute: 120, ...input.keyPackages },
    batching: { maxBatch: 500, ...input.batching },
    log: { level: 'info', ...input.log },
    // --- transparency logs (tlog engine)
    keys: {
      dir: input.keys?.dir ?? (database.kind === 'pglite' && database.dataDir ? join(database.dataDir, 'keys') : undefined),
      signer: input.keys?.signer === undefined ? undefined : checkSignerUri(input.keys.signer),
      migrateVrfKey: input.keys?.migrateVrfKey,
    },
    routing: { channels: {}, businesses: {}, tokenTtlSeconds: 900, maxTokenAttempts: 5, tickMs: 250, ...input.routing },
    metrics: {
      token: input.metrics?.token,
      listen: input.metrics?.listen ? { host: input.metrics.listen.host ?? '127.0.0.1', port: input.metrics.listen.port } : undefined,
    },
    tlog: { origin: undefined, auditOrigin: undefined, batchSize: 1000, heartbeatMs: 60_000, ...input.tlog },
    tracing: { otlpEndpoint: input.tracing?.otlpEndpoint, fileExporterPath: input.tracing?.fileExporterPath, serviceName: input.tracing?.serviceName ?? 'parley-server' },
    console: {
      enabled: true,
      assetsDir: undefined,
      secureCookies: false,
      sessionIdleSeconds: 30 * 60,
      sessionMaxSeconds: 12 * 3600,
      loginAttempts: 10,
      loginWindowSeconds: 15 * 60,
      ...input.console,
    },
    blobs: {
      maxBlobBytes: 128 * 1024 * 1024,
      businessQuotaBytes: 10 * 1024 * 1024 * 1024,
      identityQuotaBytes: 1024 * 1024 * 1024,
      uploadTtlSeconds: 24 * 3600,
      retentionSeconds: 7 * 24 * 3600,
      maxAgeSeconds: 30 * 24 * 3600,
      createsPerMinute: 60,
      businessCreatesPerMinute: 6000,
      ...input.blobs,
      store: input.blobs?.store ?? (database.kind === 'postgres' ? 'database' : 'fs'),
      dir: input.blobs?.dir ?? (database.kind === 'pglite' && database.dataDir ? join(database.dataDir, 'blobs') : undefined),
    },
  };
}

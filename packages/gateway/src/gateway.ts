/**
 * One gateway instance: the REST API, the webhook dispatcher, and — while it holds the
 * sender lease — the sender identity with its sending loop and route-status follower.
 * Run several on one database for availability; see ARCHITECTURE.md § gateway.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import swagger from '@fastify/swagger';
import { importJWK } from 'jose';
import { pino, type Logger } from 'pino';
import { EvidenceReader, Sender, applyContentPolicies, issueEnrollmentToken, type ContentPolicyConfig, type DeviceSigners, type PostQuantumRule } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { clientErrorHandler, frameworkErrors, installErrorHandling, installJsonBodyParser, type Channel, type Database } from '@parley/server';
import type { KeyWrapper } from './custody/key-wrapper.js';
import { loadDataKey } from './custody/data-key.js';
import { GatewayError } from './errors.js';
import { registerGatewayRoutes } from './http/routes.js';
import { gatewayOpenApi } from './http/openapi.js';
import { Leadership } from './leadership/leadership.js';
import { MessageStore } from './messages/message-store.js';
import { SendWorker } from './messages/send-worker.js';
import { SenderKeyRing, type SenderKeySource } from './custody/sender-keys.js';
import { SenderRotationFollower } from './custody/sender-rotation.js';
import { StatusFollower } from './messages/status-follower.js';
import { readEnrollmentKey, readWebhookSecrets } from './secrets.js';
import { DbKeyStore } from './storage/db-key-store.js';
import { migrateGateway } from './storage/migrations.js';
import { getSetting } from './storage/settings.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';

export interface GatewayOptions {
  /** The gateway's database (the business's own PostgreSQL, or PGlite for development). */
  readonly db: Database;
  /** The business's key that wraps the data key. */
  readonly keyWrapper: KeyWrapper;
  readonly host?: string;
  readonly port?: number;
  /** Names this instance in the lease table and logs (default: host, pid and a random suffix). */
  readonly instanceId?: string;
  /** Where status events go when a message names no `statusCallback`. */
  readonly webhookUrl?: string;
  /** Seconds between webhook attempts (default: 5 s … 10 h, over 24 h in all). */
  readonly webhookSchedule?: readonly number[];
  /** The business's SMS provider, for web links (their key never reaches the Parley server). */
  readonly sms?: Channel;
  readonly logger?: Logger;
  /** Sender lease period (default 5 s: a killed leader is replaced within about that). */
  readonly leaseTtlMs?: number;
  readonly fetch?: typeof fetch;
  /** Refuse to start unless the database was initialized for this Parley server (`--server`). */
  readonly expectServerUrl?: string;
  /**
   * The external signers the sender was enrolled with (`initGateway`'s `senderSigners`): the
   * elected leader opens the sender with them and evidence sessions sign with the identity
   * one. Missing or different ones fail when the sender opens (`signer_required`, `signer_mismatch`).
   */
  readonly senderSigners?: DeviceSigners;
  /**
   * Instead of `senderSigners`: the token holding the sender's keys by label (`--signer`), so
   * that `parley gateway rotate-sender-keys --signer` can move the sender to a new pair while
   * instances run; every instance opens the pair the sender's record names.
   */
  readonly senderKeys?: SenderKeySource;
  /**
   * Content policies (`--dlp`; docs/content-policies.md): checked when the REST API accepts a
   * message (a block is a 422 `content_blocked`; nothing is stored) and again by the sender before
   * it encrypts (a redaction is applied there and recorded in the signed commitment).
   */
  readonly contentPolicies?: ContentPolicyConfig;
  /** Post-quantum rule per message class (`--pq`; docs/post-quantum.md); a class not listed is `preferred`. */
  readonly postQuantum?: Readonly<Record<string, PostQuantumRule>>;
}

/** A running gateway instance. */
export interface RunningGateway {
  readonly url: string;
  readonly instanceId: string;
  leading(): boolean;
  close(): Promise<void>;
}

/**
 * Starts one instance on an initialized database (`initGateway` / `parley gateway init`).
 *
 * @example
 * const gateway = await startGateway({ db, keyWrapper: await KeyFileWrapper.load(keyFile), port: 8080, webhookUrl: 'https://bank.example/parley-status' })
 */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { db } = options;
  const log = options.logger ?? pino({ level: 'info', base: { component: 'parley-gateway' } });
  const instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  await migrateGateway(db);
  const dataKey = await loadDataKey(db, options.keyWrapper);
  const businessId = await getSetting(db, 'business_id');
  const serverUrl = await getSetting(db, 'server_url');
  if (!businessId || !serverUrl || !(await getSetting(db, 'initialized_at'))) throw new GatewayError('not_initialized', 'the gateway is not initialized: run `parley gateway init`');
  if (options.expectServerUrl !== undefined && options.expectServerUrl !== serverUrl) {
    throw new GatewayError('invalid_request', `this gateway was initialized for ${serverUrl}, not ${options.expectServerUrl}`);
  }
  const brand = (await getSetting(db, 'business_name')) ?? businessId;
  const readStore = new DbKeyStore(db, dataKey);
  // Opened now: a sender identity key held by an external signer is checked at start
  // (`signer_required` / `signer_mismatch`), not first at the leader's election.
  const keyRing = options.senderKeys ? new SenderKeyRing(db, options.senderKeys) : undefined;
  const senderSigners = async (): Promise<DeviceSigners | undefined> => (keyRing ? keyRing.signersFor(readStore) : options.senderSigners);
  const evidenceReader = await EvidenceReader.open({
    store: readStore,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(keyRing || options.senderSigners?.identity ? { signers: async () => ({ identity: (await senderSigners())?.identity }) } : {}),
  });
  const enrollmentKey = await readEnrollmentKey(readStore);
  const signingKey = await importJWK(enrollmentKey.privateJwk, 'EdDSA');
  // Re-read every few seconds: `parley gateway secrets rotate` on any instance reaches every instance.
  let secrets = await readWebhookSecrets(readStore);
  const secretsTimer = setInterval(() => {
    readWebhookSecrets(readStore).then(
      (current) => (secrets = current.length > 0 ? current : secrets),
      () => {},
    );
  }, 5000);
  secretsTimer.unref();
  let worker: SendWorker | undefined;
  const dispatcher: WebhookDispatcher = new WebhookDispatcher({
    db,
    secrets: () => secrets,
    log,
    ...(options.webhookSchedule ? { schedule: options.webhookSchedule } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  const messages = new MessageStore(dataKey, { ...(options.webhookUrl ? { defaultWebhookUrl: options.webhookUrl } : {}), onEvent: () => dispatcher.poke() });

  const leadership = new Leadership({
    db,
    holder: instanceId,
    log,
    ...(options.leaseTtlMs ? { ttlMs: options.leaseTtlMs, renewMs: Math.max(200, Math.floor(options.leaseTtlMs / 5)) } : {}),
    onElected: async (token) => {
      const store = new DbKeyStore(db, dataKey);
      store.fence(token);
      const signers = await senderSigners();
      const sender = await Sender.open({
        store,
        ...nodeRuntime,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(signers ? { signers } : {}),
      });
      if (options.postQuantum) sender.setPostQuantumPolicy(options.postQuantum);
      if (options.contentPolicies) sender.device.setContentPolicies(options.contentPolicies);
      await sender.connect().catch(() => false);
      await messages.releaseClaims(db);
      const sending = new SendWorker({ db, messages, sender, brand, log, ...(options.sms ? { sms: options.sms } : {}) });
      const follower = new StatusFollower({ db, messages, sender, log });
      let stopping = false;
      const rotation = new SenderRotationFollower({
        db,
        sender,
        log,
        ...(keyRing ? { keyRing } : {}),
        // Sending pauses while the keys change: nothing is signed with a key the server just replaced.
        pause: async (work) => {
          await sending.stop();
          try {
            return await work();
          } finally {
            if (!stopping) sending.start();
          }
        },
      });
      sending.start();
      follower.start();
      rotation.start();
      worker = sending;
      return {
        stop: async () => {
          stopping = true;
          worker = undefined;
          await rotation.stop();
          await sending.stop();
          await follower.stop();
          await sender.close();
        },
      };
    },
  });

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 512 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    frameworkErrors,
    clientErrorHandler,
  });
  installErrorHandling(app);
  installJsonBodyParser(app);
  await app.register(swagger, { openapi: gatewayOpenApi() });
  registerGatewayRoutes(app, {
    db,
    messages,
    poke: () => worker?.poke(),
    screen: async (message) => {
      if (!options.contentPolicies) return;
      const result = await applyContentPolicies(options.contentPolicies, { text: message.body, class: message.class, conversationKind: 'business', direction: 'send', attachments: [] });
      if (result.action === 'block') {
        throw new GatewayError('content_blocked', `content policy ${result.blocked.policy} refused this message: ${result.blocked.reason}`, { details: { policy: result.blocked.policy, reason: result.blocked.reason } });
      }
    },
    leading: () => leadership.leading,
    enroll: async (request) => {
      const lifetimeSeconds = 600;
      const token = await issueEnrollmentToken(signingKey, enrollmentKey.kid, {
        businessId,
        subject: request.customerId,
        kind: 'customer',
        lifetimeSeconds,
        ...(request.phone ? { phone: request.phone } : {}),
        ...(request.name ? { name: request.name } : {}),
      });
      return { token, expiresAt: new Date(Date.now() + lifetimeSeconds * 1000).toISOString(), serverUrl };
    },
    evidence: async (messageId, reveal) => {
      try {
        return await evidenceReader.exportEvidence(messageId, { reveal });
      } catch (error) {
        throw new GatewayError('evidence_unavailable', 'the server has no evidence for this message yet', { cause: error });
      }
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : '';
  dispatcher.start();
  leadership.start();
  log.info({ url, instanceId, businessId }, 'gateway: listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    instanceId,
    leading: () => leadership.leading,
    close: () =>
      (closing ??= (async () => {
        clearInterval(secretsTimer);
        await app.close();
        await leadership.stop();
        await dispatcher.stop();
        await keyRing?.close();
      })()),
  };
}

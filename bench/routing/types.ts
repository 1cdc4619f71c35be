/** Figures of the routing benchmark (bench/routing.ts). */
import type { DeliveryPath, RouteStep } from '@parley/server';
import type { LatencySummary } from '../audit-clients.js';
import type { Engine } from '../lib/engines.js';

/** One configuration's (routing on or off) hot-path figures. */
export interface HotPathFigure {
  routing: 'disabled' | 'enabled';
  messages: number;
  /** Sum over the rounds of first send → last send resolved. */
  seconds: number;
  /** Messages accepted per second (sends resolved ÷ seconds). */
  messagesPerSecond: number;
  /** `Sender.send` call → resolved: SDK work (reconcile, encrypt, sign) + submit. */
  sendMs: LatencySummary;
  /** `POST /v1/messages` → 201 (durable, commitment sequenced in the audit log). */
  submitMs: LatencySummary;
  /** `Sender.send` call → the customer device's `message` event. */
  e2eMs: LatencySummary;
  /**
   * CPU per message over the measured runs (until every message reached its device, and
   * with routing on until every route finished): this process (the servers, their PGlite
   * workers, idle emulators; inline mode: the clients too), the client process, PostgreSQL.
   */
  cpuMsPerMessage: { server: number; clients: number; postgres: number };
  errors: number;
}

/** The hot path: both configurations, their ratios and, with routing on, the route timings. */
export interface HotPathResult {
  config: { customers: number; warmupPerConfig: number; measuredPerConfig: number; rounds: number; class: string; inFlightPerCustomer: 1; clients: 'child' | 'inline' };
  disabled: HotPathFigure;
  enabled: HotPathFigure;
  /** enabled ÷ disabled (latencies and CPU: > 1 is costlier; throughput: < 1 is slower). */
  ratios: {
    sendP50: number;
    sendP99: number;
    submitP50: number;
    submitP99: number;
    e2eP50: number;
    e2eP99: number;
    throughput: number;
    serverCpuPerMessage: number;
  };
  /** enabled − disabled, ms. */
  deltas: { submitP50Ms: number; submitP99Ms: number; e2eP50Ms: number; e2eP99Ms: number; serverCpuMsPerMessage: number };
  /** Routing on: the device's ack frame (first one carrying the envelope) → the route's finished_at. */
  ackToDeliveredMs: LatencySummary;
  /** Routing on: the device's message event → its ack frame (SDK ack batching). */
  messageToAckMs: LatencySummary;
  /** Routing on: `Sender.send` call → the route's finished_at. */
  sendToDeliveredMs: LatencySummary;
  /** Routing on: how the measured routes ended. */
  routes: Record<string, number>;
  clientSetupSeconds: number;
}

/** A fallback path the benchmark drives. */
export type FallbackPathName = 'push-app-fcm' | 'push-app-apns' | 'rcs' | 'sms-token-app';

/** One fallback path's figures. */
export interface FallbackPathFigure {
  name: FallbackPathName;
  expectedPath: DeliveryPath;
  /** The channel whose item reaches the customer on this path. */
  channel: 'fcm' | 'apns' | 'rbm' | 'twilio';
  customers: number;
  messages: number;
  ok: number;
  failures: number;
  /** Steps the routes waited out before the delivering step, and their configured timeouts (mean over messages, ms). */
  waitedSteps: string[];
  timeoutsMs: number;
  /** `Sender.send` call → resolved (SDK + submit; the route exists from the submit's commit). */
  submitMs: LatencySummary;
  /** send → the delivering provider's emulator accepted the item (its own receive time). */
  sendToProviderMs: LatencySummary;
  /** send → the item is at the handset (push handed to the app / RBM file delivered / SMS in the inbox). */
  sendToHandsetMs: LatencySummary;
  /** send → the device's message event (decrypted). */
  sendToMessageMs: LatencySummary;
  /** send → the route's finished_at (state delivered). */
  sendToDeliveredMs: LatencySummary;
  /** sendToProvider − waited timeouts: submit, ticks, database, provider round trips. */
  overheadToProviderMs: LatencySummary;
  /** sendToDelivered − waited timeouts: the above plus the handset, the SDK and the ack. */
  overheadToDeliveredMs: LatencySummary;
  /** Routing alone: (the route's created_at → the provider has the item) − waited timeouts: ticks, database, provider round trips. */
  routingOverheadMs: LatencySummary;
  /**
   * Routing alone, split on the server's clock (route_events.at, channel_sends.created_at):
   * the route's commit → its first step ran; each waited step's timeout expiry (its
   * `waiting`/`sent` event + timeout) → the next step started (the router's tick and its
   * database work); the delivering step's start → the provider emulator had the item
   * (database + provider round trip).
   */
  server: { toFirstStepMs: LatencySummary; latenessPerWaitedStepMs: LatencySummary; deliveringStepMs: LatencySummary };
  /** Pieces after the provider: handset → message event (app sync / RCS client / link retrieval, decrypt), message → ack leaves, ack → route delivered. */
  handsetToMessageMs: LatencySummary;
  messageToAckMs: LatencySummary;
  ackToDeliveredMs: LatencySummary;
  /** Every provider item the messages caused, by channel: send → the emulator received it (e.g. the ignored push before RCS). */
  itemsByChannel: Record<string, { items: number; sendToProviderMs: LatencySummary }>;
  errorSamples: string[];
}

/** The web path's figures (a customer without the app). */
export interface WebPathFigure {
  messages: number;
  ok: number;
  failures: number;
  /** `Sender.sendToWeb` → answered (AES-GCM encryption and commitment, upload, token, the SMS handed to the bank's Twilio account, the hand-off reported). */
  sendMs: LatencySummary;
  /** send → the SMS is in the handset's inbox (includes the emulated carrier: two status callbacks). */
  sendToSmsMs: LatencySummary;
  /** GET /r/<token> and /assets/retrieve.js (in parallel, as a browser would). */
  pageMs: LatencySummary;
  describeMs: LatencySummary;
  /** POST /v1/web/challenge → 200 (the server posts the code to the bank's second-factor endpoint first). */
  challengeMs: LatencySummary;
  /** The code from the bank's second-factor inbox (already there when the challenge answered). */
  codeMs: LatencySummary;
  /** POST /v1/web/open → the ciphertext (the route finishes as sms-token-web on the way). */
  openMs: LatencySummary;
  /** AES-256-GCM decryption with the fragment key (WebCrypto). */
  decryptMs: LatencySummary;
  /** SMS at the handset → decrypted (the retrieval, with no human delay). */
  smsToDecryptedMs: LatencySummary;
  /** send → decrypted. */
  totalMs: LatencySummary;
  errorSamples: string[];
}

/** One channel's provider send latency. */
export interface ProviderSendFigure {
  channel: string;
  /** While routing parts 2 and 3: `Channel.send` timed around the real adapter (HTTP to the emulator and back). */
  sends: number;
  sendMs: LatencySummary;
  failures: number;
  /** `Channel.capabilities` (RBM capability checks; the router caches them). */
  capabilityChecks: number;
  capabilitiesMs?: LatencySummary;
  /** The server's `parley_channel_send_seconds` histogram over the same sends: count and mean. */
  metricsCount: number;
  metricsMeanMs: number;
  /** The adapter called directly, one send at a time, with nothing else running (no handset reacting). */
  idleProbe: { sends: number; sendMs: LatencySummary; failures: number };
}

/** Everything one engine's run measured. */
export interface RoutingEngineResult {
  engine: Engine;
  config: {
    tickMs: number;
    fallbackChain: readonly RouteStep[];
    fallbackClass: string;
    hotClass: string;
    adapterTimeoutMs: number;
    twilioCallbackDelayMs: number;
    fallbackCustomersPerPath: number;
  };
  hotPath: HotPathResult;
  fallback: FallbackPathFigure[];
  web: WebPathFigure;
  providers: ProviderSendFigure[];
  notes: string[];
  setupSeconds: number;
  seconds: number;
}

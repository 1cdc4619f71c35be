/**
 * Routing benchmark (capability-aware delivery), on the real server with durable storage
 * (PGlite with a data directory, or PostgreSQL in a fresh schema, dropped afterwards) and
 * every provider as an emulator on loopback (FCM, APNs, RBM, Twilio) driven through the
 * production channel adapters (`startLocalProviders`). Nothing is mocked: customers are
 * SDK devices, and "the phone" reacts to what the emulators deliver.
 *
 * 1. **Routing overhead on the hot path.** Two servers side by side, identical but for
 *    `routing.enabled` (the enabled one has every channel configured). On each, a
 *    business Sender (SDK, HTTP submits) sends audited business messages (class `alert`,
 *    default policy) to customers whose devices are connected, one in flight per customer;
 *    the path is `app`. Rounds alternate between the two servers so machine drift lands on
 *    both. The clients run in their own process by default (bench/routing-clients.ts), so
 *    this process's CPU is the servers'. Per message: send latency (`Sender.send` call →
 *    resolved), submit latency (`POST /v1/messages` → 201, i.e. durable and sequenced in the
 *    audit log), end-to-end latency (`Sender.send` call → the device's `message` event),
 *    throughput, server CPU per message; ratios enabled ÷ disabled. With routing on, also
 *    the device's ack frame → the route's `finished_at` (state `delivered`, path `app`).
 * 2. **Fallback timings** with a policy of small known step timeouts (app 200 ms, push
 *    200 ms, rcs 200 ms, sms-token 5 s) on asleep customers (conversation set up, device
 *    disconnected). Paths: push-app over FCM and APNs (the "phone OS" wakes the app, which
 *    syncs), rcs (the push is ignored — the app does not wake — then RBM hands the envelope
 *    to the Parley RCS client, which feeds the SDK), sms-token-app (push ignored, no RCS;
 *    the app opens the SMS link). Per message: send → the provider emulator has the item,
 *    → it is at the handset, → the device's message event, → route `delivered`; and the
 *    part that is not the configured step timeouts the route actually waited (read from its
 *    events): overall, and from the route's creation to the provider (routing alone: ticks,
 *    database, provider round trips).
 *    Provider send latency per channel: the adapter's `send` timed around the real adapter
 *    while routing, the server's `parley_channel_send_seconds` histogram (mean), and a
 *    direct probe of each adapter on an idle server.
 * 3. **The web path** (customer without the app): `sendToWeb` → SMS at the handset → the
 *    page (HTML + script) → describe → challenge (code to the bank's second factor) → open
 *    → AES-GCM decryption with the key from the link's fragment, over HTTP without a
 *    browser; per step and total.
 *
 * Parts 2 and 3 run the SDK devices and the emulators in this process (low load; the
 * figures are latencies).
 *
 * Run alone: `npx tsx bench/routing.ts [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--tick-ms N]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Device } from '@parley/client';
import type { BusinessRouting } from '@parley/server';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { createBusiness } from '@parley/test-kit/sdk';
import { DEMO_BRAND, freePort, startLocalProviders, startSecondFactorInbox, type LocalProviders, type SecondFactorInbox } from '../packages/cli/src/demo/providers.js';
import { errorText } from './lib/async.js';
import { DEFAULT_POSTGRES_URL, dropSchema, forEachEngine, type Engine, type EngineSkip } from './lib/engines.js';
import { runStandalone } from './lib/entry.js';
import { summarize } from './lib/stats.js';
import { ADAPTER_TIMEOUT_MS, BANK, FALLBACK_CHAIN, FALLBACK_CLASS, HOT_CLASS } from './routing/config.js';
import { runFallback } from './routing/fallback.js';
import { runHotPath } from './routing/hot-path.js';
import { ChannelTiming, LogSink, channelSendMetrics, round1, round2, startBenchServer, type BenchServer } from './routing/support.js';
import type { ProviderSendFigure, RoutingEngineResult } from './routing/types.js';
import { probeProviders, runWeb } from './routing/web.js';

export { DEFAULT_POSTGRES_URL, FALLBACK_CHAIN };
export type { FallbackPathFigure, FallbackPathName, HotPathFigure, HotPathResult, ProviderSendFigure, RoutingEngineResult, WebPathFigure } from './routing/types.js';

/** Options of {@link runRoutingBench}. */
export interface RoutingBenchOptions {
  quick?: boolean;
  engines?: readonly Engine[];
  databaseUrl?: string;
  /** Hot-path clients in their own process (default) or on this event loop. */
  clients?: 'child' | 'inline';
  /** Connected customers on each hot-path server (one message in flight each; default 16, --quick 8). */
  customers?: number;
  /** Measured hot-path messages per configuration (default 2,000; --quick 160). */
  messages?: number;
  /** Measured messages per fallback path (default 30; --quick 6). */
  fallbackMessages?: number;
  /** Measured web-link messages (default 20; --quick 6). */
  webMessages?: number;
  /** Router tick of the routing server (default: the server's default). */
  tickMs?: number;
  /** Called before each engine's run (the runner waits there for an idle machine). */
  beforeEngine?: (engine: Engine) => Promise<void>;
  onProgress?: (line: string) => void;
}

/** Every engine's run, what was skipped, and the failures. */
export interface RoutingBenchResult {
  quick: boolean;
  results: RoutingEngineResult[];
  skipped: EngineSkip[];
  /** Hot-path errors, fallback and web messages that failed or took the wrong path, over all engines (must be 0). */
  failures: number;
}

// --- one engine ------------------------------------------------------------------------

async function runEngine(engine: Engine, opts: RoutingBenchOptions, log: (line: string) => void): Promise<{ result: RoutingEngineResult; failures: number }> {
  const quick = opts.quick === true;
  const startedAt = performance.now();
  const customers = opts.customers ?? (quick ? 8 : 16);
  const rounds = quick ? 2 : 4;
  const perRound = Math.ceil((opts.messages ?? (quick ? 160 : 2_000)) / rounds);
  const warmup = Math.max(customers * 2, Math.round((perRound * rounds) / 10));
  const fallbackMessages = opts.fallbackMessages ?? (quick ? 6 : 30);
  const customersPerPath = quick ? 3 : 5;
  const messagesPerCustomer = Math.max(1, Math.ceil(fallbackMessages / customersPerPath));
  const webMessages = opts.webMessages ?? (quick ? 6 : 20);
  const clients = opts.clients ?? 'child';
  const databaseUrl = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
  const notes: string[] = [];
  const sink = new LogSink();
  const tmp = await mkdtemp(join(tmpdir(), 'parley-bench-routing-'));
  const servers: BenchServer[] = [];
  const devices: Device[] = [];
  let providers: LocalProviders | undefined;
  let secondFactor: SecondFactorInbox | undefined;
  try {
    const port = await freePort();
    providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: ADAPTER_TIMEOUT_MS, rbmAutoDeliver: true });
    secondFactor = await startSecondFactorInbox();
    const timing = new ChannelTiming();
    const bankRouting: BusinessRouting = {
      brand: DEMO_BRAND,
      appUrl: 'https://examplebank.example/app',
      secondFactor: { url: secondFactor.url, secret: secondFactor.secret },
      policies: { [FALLBACK_CLASS]: { chain: FALLBACK_CHAIN, otherwise: 'fallback-with-token' } },
    };
    log(`starting two servers (${engine}; one with routing enabled and every emulated provider, one with routing disabled)`);
    const started = await Promise.allSettled([
      startBenchServer(engine, 'on', tmp, databaseUrl, sink, {
        port,
        routing: { channels: timing.wrap(providers.channels), businesses: { [BANK]: bankRouting }, ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}) },
      }),
      startBenchServer(engine, 'off', tmp, databaseUrl, sink, { routing: { enabled: false } }),
    ]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const [onStart, offStart] = started;
    if (onStart?.status !== 'fulfilled' || offStart?.status !== 'fulfilled') {
      throw new Error(`a server did not start: ${started.map((x) => (x.status === 'rejected' ? errorText(x.reason) : 'ok')).join('; ')}`);
    }
    const on = onStart.value;
    const off = offStart.value;
    const tickMs = on.server.config.routing.tickMs;
    const setupSeconds = (performance.now() - startedAt) / 1000;

    // --- 1. hot path ---
    log(`hot path: ${customers} connected customers per server, ${warmup} warm-up + ${perRound * rounds} measured messages per configuration in ${rounds} alternating rounds (clients ${clients})`);
    const hotPath = await runHotPath(engine, on, off, { customers, warmup, perRound, rounds, clients, tmp, databaseUrl }, notes, log);
    const r = hotPath.ratios;
    log(
      `hot path: enabled ÷ disabled: submit p50 ${r.submitP50}× p99 ${r.submitP99}×, e2e p50 ${r.e2eP50}× p99 ${r.e2eP99}×, throughput ${r.throughput}×, server CPU/msg ${r.serverCpuPerMessage}× (+${hotPath.deltas.serverCpuMsPerMessage} ms); ack → delivered p50 ${hotPath.ackToDeliveredMs.p50} ms p99 ${hotPath.ackToDeliveredMs.p99} ms`,
    );
    timing.reset();
    const metricsBefore = channelSendMetrics(await (await fetch(`${on.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text());

    // --- 2. fallback paths ---
    const bank = await createBusiness(on.url, BANK);
    const { figures: fallback, sender } = await runFallback(on, bank, providers, { customersPerPath, messagesPerCustomer }, devices, log);

    // --- 3. web path ---
    const web = await runWeb(on, providers, secondFactor, sender, webMessages, log);

    // --- provider send latency ---
    const metricsAfter = channelSendMetrics(await (await fetch(`${on.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text());
    await Promise.all(devices.splice(0).map((d) => d.close().catch(() => {})));
    log(`providers: probing each adapter directly (${quick ? 10 : 30} sends each, one at a time)`);
    const probe = await probeProviders(providers, quick ? 10 : 30);
    const channelNames = new Set([...timing.sends.keys(), ...timing.capabilities.keys(), ...metricsAfter.keys(), ...probe.keys()]);
    const providerFigures: ProviderSendFigure[] = [...channelNames].sort().map((channel) => {
      const a = metricsAfter.get(channel) ?? { count: 0, sumSeconds: 0 };
      const b = metricsBefore.get(channel) ?? { count: 0, sumSeconds: 0 };
      const count = a.count - b.count;
      const caps = timing.capabilities.get(channel) ?? [];
      const p = probe.get(channel) ?? { ms: [], failures: 0 };
      return {
        channel,
        sends: timing.sends.get(channel)?.length ?? 0,
        sendMs: summarize(timing.sends.get(channel) ?? []),
        failures: timing.failures.get(channel) ?? 0,
        capabilityChecks: caps.length,
        ...(caps.length > 0 ? { capabilitiesMs: summarize(caps) } : {}),
        metricsCount: count,
        metricsMeanMs: count > 0 ? round2(((a.sumSeconds - b.sumSeconds) / count) * 1000) : 0,
        idleProbe: { sends: p.ms.length, sendMs: summarize(p.ms), failures: p.failures },
      };
    });
    for (const p of providerFigures) {
      log(`provider ${p.channel}: routing ${p.sends} sends p50 ${p.sendMs.p50} ms p99 ${p.sendMs.p99} ms (histogram mean ${p.metricsMeanMs} ms); idle probe p50 ${p.idleProbe.sendMs.p50} ms p99 ${p.idleProbe.sendMs.p99} ms`);
    }

    if (sink.count > 0) notes.push(`the servers logged ${sink.count} warnings/errors, e.g. ${sink.samples.map((x) => JSON.stringify(x)).join('; ')}`);
    if (clients === 'inline') notes.push('hot-path clients inline: the SDK devices share the servers’ event loop and their CPU is in the server figure');
    notes.push('fallback and web paths: the SDK devices, the emulators and the server share this process (handsets react on the server’s event loop)');
    const failures = hotPath.disabled.errors + hotPath.enabled.errors + fallback.reduce((a, f) => a + f.failures, 0) + web.failures;
    const result: RoutingEngineResult = {
      engine,
      config: {
        tickMs,
        fallbackChain: FALLBACK_CHAIN,
        fallbackClass: FALLBACK_CLASS,
        hotClass: HOT_CLASS,
        adapterTimeoutMs: ADAPTER_TIMEOUT_MS,
        twilioCallbackDelayMs: providers.twilio.callbackDelayMs,
        fallbackCustomersPerPath: customersPerPath,
      },
      hotPath,
      fallback,
      web,
      providers: providerFigures,
      notes,
      setupSeconds: round1(setupSeconds),
      seconds: round1((performance.now() - startedAt) / 1000),
    };
    return { result, failures };
  } finally {
    await Promise.all(devices.map((d) => d.close().catch(() => {})));
    for (const s of servers) {
      await s.server.stop().catch((error: unknown) => log(`server stop failed: ${String(error)}`));
      if (s.schema) await dropSchema(databaseUrl, s.schema, log);
    }
    await secondFactor?.close().catch(() => {});
    await providers?.close().catch(() => {});
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs the routing benchmark on each engine; a PostgreSQL that does not answer is skipped with a reason.
 *
 * @example
 * const r = await runRoutingBench({ quick: true, engines: ['pglite'], onProgress: console.error });
 * console.log(r.results[0]?.hotPath.ratios);
 */
export async function runRoutingBench(opts: RoutingBenchOptions = {}): Promise<RoutingBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  let failures = 0;
  const { results, skipped } = await forEachEngine(
    { section: 'routing', engines: opts.engines, databaseUrl: opts.databaseUrl, progress, beforeEngine: opts.beforeEngine },
    async (engine) => {
      const run = await runEngine(engine, opts, (line) => progress(`routing/${engine}: ${line}`));
      failures += run.failures;
      return run.result;
    },
  );
  return { quick: opts.quick === true, results, skipped, failures };
}

// Run alone: npx tsx bench/routing.ts [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--tick-ms N]
runStandalone(import.meta.url, (a, progress) => {
  const tick = a.value('--tick-ms') !== undefined ? Number(a.value('--tick-ms')) : undefined;
  return runRoutingBench({
    quick: a.quick,
    engines: a.engines,
    clients: a.value('--clients') === 'inline' ? 'inline' : 'child',
    ...(tick !== undefined && Number.isFinite(tick) ? { tickMs: tick } : {}),
    onProgress: progress,
  });
});

/** Console report of the routing section (bench/routing.ts). */
import type { RoutingBenchResult } from '../routing.js';
import { ms, num, ratio, table } from './format.js';

/**
 * Hot-path overhead, fallback paths, the web path and provider send latency per engine.
 *
 * @example
 * printRouting(await runRoutingBench({ quick: true }));
 */
export function printRouting(r: RoutingBenchResult): void {
  for (const s of r.skipped) console.log(`\nrouting/${s.engine}: skipped — ${s.reason}`);
  if (r.results.length === 0) return;
  const pp = (l: { p50: number; p99: number }) => `${ms(l.p50)}/${ms(l.p99)}`;
  const h0 = r.results[0]!.hotPath.config;
  console.log(
    '\nRouting overhead on the hot path (audited Sender.send to connected customers, path app; %s customers per server, 1 in flight each, %s measured per configuration in %s alternating rounds, clients %s)',
    h0.customers,
    num(h0.measuredPerConfig),
    h0.rounds,
    h0.clients,
  );
  console.log(
    table(
      ['engine', 'routing', 'msgs/s', 'send p50/p99', 'submit p50/p99', 'e2e p50/p99', 'server CPU/msg', 'clients CPU/msg', 'postgres CPU/msg', 'errors'],
      r.results.flatMap((e) => [
        ...[e.hotPath.disabled, e.hotPath.enabled].map((f) => [
          e.engine,
          f.routing,
          num(f.messagesPerSecond),
          pp(f.sendMs),
          pp(f.submitMs),
          pp(f.e2eMs),
          `${ms(f.cpuMsPerMessage.server)} ms`,
          f.cpuMsPerMessage.clients > 0 ? `${ms(f.cpuMsPerMessage.clients)} ms` : '—',
          e.engine === 'postgres' ? `${ms(f.cpuMsPerMessage.postgres)} ms` : '—',
          String(f.errors),
        ]),
        [
          e.engine,
          'on ÷ off',
          ratio(e.hotPath.ratios.throughput),
          `${ratio(e.hotPath.ratios.sendP50)}/${ratio(e.hotPath.ratios.sendP99)}`,
          `${ratio(e.hotPath.ratios.submitP50)}/${ratio(e.hotPath.ratios.submitP99)}`,
          `${ratio(e.hotPath.ratios.e2eP50)}/${ratio(e.hotPath.ratios.e2eP99)}`,
          `${ratio(e.hotPath.ratios.serverCpuPerMessage)} (+${ms(e.hotPath.deltas.serverCpuMsPerMessage)} ms)`,
          '',
          '',
          '',
        ],
      ]),
    ),
  );
  console.log('(ms; send = Sender.send call → resolved; submit = POST /v1/messages → 201, durable and sequenced in the audit log; e2e = send call → the device’s message event; server CPU = the servers’ process incl. PGlite worker, + postgres for that engine in the ratio)');
  for (const e of r.results) {
    const h = e.hotPath;
    console.log(
      `${e.engine}, routing on: ack frame → route delivered p50 ${ms(h.ackToDeliveredMs.p50)} p99 ${ms(h.ackToDeliveredMs.p99)} max ${ms(h.ackToDeliveredMs.max)} ms; message event → ack frame p50 ${ms(h.messageToAckMs.p50)} ms; send → route delivered p50 ${ms(h.sendToDeliveredMs.p50)} p99 ${ms(h.sendToDeliveredMs.p99)} ms; routes ${Object.entries(h.routes).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  }

  const c0 = r.results[0]!.config;
  console.log(
    '\nFallback paths (policy: %s; router tick %s ms; asleep customers, %s per path)',
    c0.fallbackChain.map((s) => `${s.step} ${s.timeoutMs} ms`).join(' → '),
    c0.tickMs,
    c0.fallbackCustomersPerPath,
  );
  console.log(
    table(
      ['engine', 'path', 'ok', 'timeouts waited', 'send→provider', 'send→handset', 'send→message', 'send→delivered', 'overhead (−timeouts)', 'routing alone', '→1st step', 'late/step', 'deliv. step', 'handset→message', 'ack→delivered'],
      r.results.flatMap((e) =>
        e.fallback.map((f) => [
          e.engine,
          f.name,
          `${f.ok}/${f.messages}`,
          `${ms(f.timeoutsMs)} (${f.waitedSteps.map((x) => x.split(' ')[0]).join('+')})`,
          pp(f.sendToProviderMs),
          pp(f.sendToHandsetMs),
          pp(f.sendToMessageMs),
          pp(f.sendToDeliveredMs),
          pp(f.overheadToDeliveredMs),
          pp(f.routingOverheadMs),
          pp(f.server.toFirstStepMs),
          pp(f.server.latenessPerWaitedStepMs),
          pp(f.server.deliveringStepMs),
          pp(f.handsetToMessageMs),
          pp(f.ackToDeliveredMs),
        ]),
      ),
    ),
  );
  console.log(
    '(ms p50/p99; provider = the emulator received the delivering item; overhead = send→delivered − configured timeouts waited; routing alone = route created → provider has the item − timeouts, split on the server’s clock into: →1st step = route committed → first step ran; late/step = a waited step’s timeout expired → the next step started (tick + database), per waited step; deliv. step = delivering step started → provider has the item)',
  );

  console.log('\nWeb path (customer without the app: SMS link → page → code to the bank’s second factor → consent → ciphertext → AES-GCM in the "browser", over HTTP)');
  console.log(
    table(
      ['engine', 'ok', 'sendToWeb', 'send→SMS', 'page', 'describe', 'challenge', 'code', 'open', 'decrypt', 'SMS→decrypted', 'total'],
      r.results.map((e) => {
        const w = e.web;
        return [e.engine, `${w.ok}/${w.messages}`, pp(w.sendMs), pp(w.sendToSmsMs), pp(w.pageMs), pp(w.describeMs), pp(w.challengeMs), pp(w.codeMs), pp(w.openMs), pp(w.decryptMs), pp(w.smsToDecryptedMs), pp(w.totalMs)];
      }),
    ),
  );
  console.log(`(ms p50/p99; send→SMS includes the Twilio emulator's carrier: 2 status callbacks ${c0.twilioCallbackDelayMs} ms apart)`);

  console.log('\nProvider send latency (Channel.send round trip to the emulator)');
  console.log(
    table(
      ['engine', 'channel', 'while routing p50/p99', 'sends', 'histogram mean', 'idle probe p50/p99', 'capability checks p50'],
      r.results.flatMap((e) =>
        e.providers.map((p) => [
          e.engine,
          p.channel,
          pp(p.sendMs),
          String(p.sends),
          `${ms(p.metricsMeanMs)} (${p.metricsCount})`,
          pp(p.idleProbe.sendMs),
          p.capabilitiesMs ? `${ms(p.capabilitiesMs.p50)} (${p.capabilityChecks})` : '—',
        ]),
      ),
    ),
  );
  console.log('(ms; while routing = timed around the real adapter during the fallback and web runs, handsets reacting in the same process; histogram = the server’s parley_channel_send_seconds over the same sends; idle probe = the adapter called directly, one send at a time)');
  for (const e of r.results) {
    for (const n of e.notes) console.log(`note (routing/${e.engine}): ${n}`);
    for (const f of e.fallback) for (const x of f.errorSamples) console.log(`error sample (routing/${e.engine}, ${f.name}): ${x}`);
    for (const x of e.web.errorSamples) console.log(`error sample (routing/${e.engine}, web): ${x}`);
  }
}

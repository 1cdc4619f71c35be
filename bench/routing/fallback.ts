/**
 * Part 2 of the routing benchmark: fallback timings on asleep customers, with a policy of
 * small known step timeouts (FALLBACK_CHAIN). The phones react to what the emulators
 * deliver, in this process: a push wakes the app (or is ignored), RBM hands the envelope
 * to the Parley RCS client, the app opens the SMS link.
 */
import type { Envelope } from '@parley/core';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { TwilioHandsetSms } from '@parley/emulators';
import type { DeliveryPath, ParleyServer } from '@parley/server';
import type { Business } from '@parley/test-kit/sdk';
import { DEMO_BRAND, type LocalProviders } from '../../packages/cli/src/demo/providers.js';
import { errorText, inPool } from '../lib/async.js';
import { summarize } from '../lib/stats.js';
import { otpText } from '../lib/workload.js';
import { Arrivals, TimingFetch, wall } from '../routing-clients.js';
import { FALLBACK_CHAIN, FALLBACK_CLASS, HOT_CLASS } from './config.js';
import { epochMs, round1, settledRoutes, type BenchServer } from './support.js';
import type { FallbackPathFigure, FallbackPathName } from './types.js';

interface FallbackSpec {
  name: FallbackPathName;
  expected: DeliveryPath;
  channel: 'fcm' | 'apns' | 'rbm' | 'twilio';
  push: 'fcm' | 'apns';
  /** Does the push wake the app (which then syncs)? */
  wakes: boolean;
  rcs: 'none' | 'parley';
}

const FALLBACK_PATHS: readonly FallbackSpec[] = [
  { name: 'push-app-fcm', expected: 'push-app', channel: 'fcm', push: 'fcm', wakes: true, rcs: 'none' },
  { name: 'push-app-apns', expected: 'push-app', channel: 'apns', push: 'apns', wakes: true, rcs: 'none' },
  { name: 'rcs', expected: 'rcs', channel: 'rbm', push: 'fcm', wakes: false, rcs: 'parley' },
  { name: 'sms-token-app', expected: 'sms-token-app', channel: 'twilio', push: 'fcm', wakes: false, rcs: 'none' },
];

/** What reached a provider / the handset for one in-flight message. */
interface ProviderItem {
  channel: string;
  /** The emulator's own receive time (ms since the epoch). */
  providerAt: number;
  /** When the handset had it (this process's listener ran). */
  handsetAt: number;
}

interface FallbackCustomer {
  id: string;
  spec: FallbackSpec;
  device: Device;
  /** Items for the message in flight. */
  items: ProviderItem[];
  errors: string[];
}

interface RouteEventView {
  step: string;
  channel: string | null;
  decision: string;
}

const STEP_OF_PATH: Readonly<Record<string, string>> = { app: 'app', 'push-app': 'push', rcs: 'rcs', 'sms-token-app': 'sms-token' };

/** The configured timeouts a route waited out before the step that delivered it (from its events). */
function waitedTimeouts(events: readonly RouteEventView[], path: DeliveryPath): { ms: number; steps: string[] } {
  const final = FALLBACK_CHAIN.findIndex((s) => s.step === STEP_OF_PATH[path]);
  let total = 0;
  const steps: string[] = [];
  for (let i = 0; i < Math.max(0, final); i++) {
    const s = FALLBACK_CHAIN[i]!;
    // The router's events: `app`/waiting for the app step; `step-<index>`/sent when a provider took the step's item.
    const waited = i === 0 ? events.some((e) => e.step === 'app' && e.decision === 'waiting') : events.some((e) => e.step === `step-${i}` && (e.decision === 'sent' || e.decision === 'already-sent'));
    if (waited) {
      total += s.timeoutMs;
      steps.push(`${s.step} ${s.timeoutMs} ms`);
    }
  }
  return { ms: total, steps };
}

/**
 * When each step of a route started and when its timeout started, on the database's clock:
 * a step starts with its first event or provider hand-off (`channel_sends.created_at`); its
 * timeout starts with its `waiting` (app) or `sent` event (the router sets next_at right after).
 */
async function stepTimeline(server: ParleyServer, messageId: string): Promise<{ startOf(i: number): number | undefined; endOf(i: number): number | undefined }> {
  const events = await server.db.query<{ step: string; decision: string; at: Date | string }>('SELECT step, decision, at FROM route_events WHERE message_id = $1 ORDER BY id', [messageId]);
  const sends = await server.db.query<{ step: number; created_at: Date | string }>('SELECT step, created_at FROM channel_sends WHERE message_id = $1', [messageId]);
  const min = (values: number[]) => (values.length > 0 ? Math.min(...values) : undefined);
  return {
    startOf: (i) =>
      min([
        ...sends.filter((x) => Number(x.step) === i).map((x) => epochMs(x.created_at)),
        ...events.filter((e) => e.step === FALLBACK_CHAIN[i]?.step || e.step === `step-${i}`).map((e) => epochMs(e.at)),
      ]),
    endOf: (i) => {
      const e = i === 0 ? events.find((x) => x.step === 'app' && x.decision === 'waiting') : events.find((x) => x.step === `step-${i}` && x.decision === 'sent');
      return e ? epochMs(e.at) : undefined;
    },
  };
}
/**
 * Enrolls asleep customers per path, sends them one-time codes one at a time per customer,
 * and measures each message's path and timings.
 *
 * @example
 * const { figures, sender } = await runFallback(on, bank, providers, { customersPerPath: 3, messagesPerCustomer: 2 }, devices, log);
 */
export async function runFallback(
  on: BenchServer,
  business: Business,
  providers: LocalProviders,
  o: { customersPerPath: number; messagesPerCustomer: number },
  devices: Device[],
  log: (line: string) => void,
): Promise<{ figures: FallbackPathFigure[]; sender: Sender }> {
  const sender = await Sender.enroll({
    serverUrl: on.url,
    enrollmentToken: await business.issue('fallback-sender', 'sender', { name: DEMO_BRAND }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    ...nodeRuntime,
  });
  devices.push(sender.device);
  const arrivals = new Arrivals();
  const acks = new Map<string, number>();
  const byToken = new Map<string, FallbackCustomer>();
  const byPhone = new Map<string, FallbackCustomer>();
  const record = (c: FallbackCustomer | undefined, channel: string, providerAt: number) => {
    if (c) c.items.push({ channel, providerAt, handsetAt: wall() });
    return c;
  };
  // The phones: what each emulator delivers reaches the customer's app here.
  const unsubscribe: (() => void)[] = [];
  unsubscribe.push(
    providers.fcm.onPush((push) => {
      const c = record(push.token ? byToken.get(push.token) : undefined, 'fcm', push.receivedAt.getTime());
      if (c?.spec.wakes) void c.device.sync().catch((error: unknown) => c.errors.push(`sync: ${errorText(error)}`));
    }),
  );
  unsubscribe.push(
    providers.apns.onPush((push) => {
      const c = record(byToken.get(push.token), 'apns', push.receivedAt.getTime());
      if (c?.spec.wakes) void c.device.sync().catch((error: unknown) => c.errors.push(`sync: ${errorText(error)}`));
    }),
  );
  unsubscribe.push(
    providers.rbm.onDelivered((message) => {
      const c = record(byPhone.get(message.phone), 'rbm', message.sendTime.getTime());
      if (!c || !message.file) return;
      const envelope = JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope;
      void c.device.receive([envelope]).catch((error: unknown) => c.errors.push(`rcs receive: ${errorText(error)}`));
    }),
  );
  const onSms = (sms: TwilioHandsetSms) => {
    const c = byPhone.get(sms.to);
    if (!c) return;
    record(c, 'twilio', providers.twilio.messages.get(sms.sid)?.dateCreated.getTime() ?? Number.NaN);
    const link = /https?:\/\/\S+/.exec(sms.text)?.[0];
    if (!link) {
      c.errors.push('an SMS without a link');
      return;
    }
    void c.device.openRetrievalLink(link).catch((error: unknown) => c.errors.push(`open link: ${errorText(error)}`));
  };
  providers.twilio.on('sms', onSms);
  unsubscribe.push(() => providers.twilio.off('sms', onSms));

  const figures: FallbackPathFigure[] = [];
  let serial = 0;
  try {
    for (const spec of FALLBACK_PATHS) {
      log(`fallback ${spec.name}: enrolling ${o.customersPerPath} asleep customers (push ${spec.push}${spec.wakes ? ' wakes the app' : ' ignored'}, RCS ${spec.rcs})`);
      const customers = await inPool(Array.from({ length: o.customersPerPath }, () => ++serial), 3, async (n) => {
        const id = `fb-${spec.name}-${n}`;
        const phone = `+1555020${String(n).padStart(4, '0')}`;
        providers.setRcs(phone, spec.rcs);
        const device = await Device.enroll({
          serverUrl: on.url,
          enrollmentToken: await business.issue(id, 'customer', { phone }),
          store: new MemoryKeyStore(),
          keyPackageBatch: 5,
          ...nodeRuntime,
          fetch: new TimingFetch(acks).fetch,
        });
        devices.push(device);
        arrivals.watch(device);
        await device.connect();
        const hello = await sender.send(id, 'Welcome to Example Bank messaging.', { class: HOT_CLASS });
        if (!(await arrivals.wait(hello.messageId, 30_000))) throw new Error(`first contact with ${id} did not arrive`);
        await device.disconnect();
        const pushToken = providers.newPushToken(spec.push);
        await device.setPushToken({ provider: spec.push, token: pushToken });
        const c: FallbackCustomer = { id, spec, device, items: [], errors: [] };
        byToken.set(pushToken, c);
        byPhone.set(phone, c);
        return c;
      });

      const samples = {
        submit: [] as number[],
        toProvider: [] as number[],
        toHandset: [] as number[],
        toMessage: [] as number[],
        toDelivered: [] as number[],
        overheadProvider: [] as number[],
        overheadDelivered: [] as number[],
        routing: [] as number[],
        firstStep: [] as number[],
        lateness: [] as number[],
        deliveringStep: [] as number[],
        handsetToMessage: [] as number[],
        messageToAck: [] as number[],
        ackToDelivered: [] as number[],
        timeouts: [] as number[],
      };
      const byChannel = new Map<string, number[]>();
      const waitedSteps = new Set<string>();
      const errorSamples: string[] = [];
      let ok = 0;
      let failures = 0;
      let measured = 0;
      // One warm-up message per customer (OAuth tokens, HTTP/2 session, capability cache), then the measured ones.
      await Promise.all(
        customers.map(async (c) => {
          for (let k = 0; k <= o.messagesPerCustomer; k++) {
            const warm = k === 0;
            c.items = [];
            c.errors = [];
            const t0 = wall();
            let messageId = '';
            try {
              const sent = await sender.send(c.id, otpText(serial * 100 + k), { class: FALLBACK_CLASS });
              const t1 = wall();
              messageId = sent.messageId;
              const arrived = await arrivals.wait(messageId, 20_000);
              const row = (await settledRoutes(on.server, [messageId], 15_000)).get(messageId);
              if (warm) continue;
              measured++;
              const view = await sender.route(messageId);
              const problem = !arrived
                ? 'the message never reached the device'
                : row?.state !== 'delivered' || row.finished_at === null
                  ? `route ${row?.state ?? 'missing'}`
                  : row.path !== spec.expected
                    ? `path ${String(row.path)}, expected ${spec.expected}`
                    : c.errors.length > 0
                      ? c.errors.join('; ')
                      : undefined;
              const item = c.items.find((x) => x.channel === spec.channel);
              if (problem !== undefined || !item || !row || row.finished_at === null) {
                failures++;
                if (errorSamples.length < 5) errorSamples.push(`${c.id}: ${problem ?? `no ${spec.channel} item`} (${view.events.map((e) => `${e.step}/${e.channel ?? '-'}/${e.decision}`).join(', ')})`);
                continue;
              }
              ok++;
              const waited = waitedTimeouts(view.events, spec.expected);
              for (const s of waited.steps) waitedSteps.add(s);
              const at = arrivals.at.get(messageId)!;
              const done = epochMs(row.finished_at);
              const ack = acks.get(sent.envelopeId);
              samples.submit.push(t1 - t0);
              samples.toProvider.push(item.providerAt - t0);
              samples.toHandset.push(item.handsetAt - t0);
              samples.toMessage.push(at - t0);
              samples.toDelivered.push(done - t0);
              samples.overheadProvider.push(item.providerAt - t0 - waited.ms);
              samples.overheadDelivered.push(done - t0 - waited.ms);
              samples.routing.push(item.providerAt - epochMs(row.created_at) - waited.ms);
              const timeline = await stepTimeline(on.server, messageId);
              const final = FALLBACK_CHAIN.findIndex((x) => STEP_OF_PATH[spec.expected] === x.step);
              const first = timeline.startOf(0);
              if (first !== undefined) samples.firstStep.push(first - epochMs(row.created_at));
              for (let i = 0; i < final; i++) {
                const end = timeline.endOf(i);
                const next = timeline.startOf(i + 1);
                if (end !== undefined && next !== undefined) samples.lateness.push(next - (end + FALLBACK_CHAIN[i]!.timeoutMs));
              }
              const deliveringStart = timeline.startOf(final);
              if (deliveringStart !== undefined) samples.deliveringStep.push(item.providerAt - deliveringStart);
              samples.handsetToMessage.push(at - item.handsetAt);
              if (ack !== undefined) {
                samples.messageToAck.push(ack - at);
                samples.ackToDelivered.push(done - ack);
              }
              samples.timeouts.push(waited.ms);
              for (const x of c.items) {
                const list = byChannel.get(x.channel) ?? [];
                list.push(x.providerAt - t0);
                byChannel.set(x.channel, list);
              }
            } catch (error) {
              if (warm) throw error;
              measured++;
              failures++;
              if (errorSamples.length < 5) errorSamples.push(`${c.id} ${messageId}: ${errorText(error)}`);
            }
          }
        }),
      );
      const figure: FallbackPathFigure = {
        name: spec.name,
        expectedPath: spec.expected,
        channel: spec.channel,
        customers: customers.length,
        messages: measured,
        ok,
        failures,
        waitedSteps: [...waitedSteps],
        timeoutsMs: round1(samples.timeouts.reduce((a, b) => a + b, 0) / Math.max(1, samples.timeouts.length)),
        submitMs: summarize(samples.submit),
        sendToProviderMs: summarize(samples.toProvider),
        sendToHandsetMs: summarize(samples.toHandset),
        sendToMessageMs: summarize(samples.toMessage),
        sendToDeliveredMs: summarize(samples.toDelivered),
        overheadToProviderMs: summarize(samples.overheadProvider),
        overheadToDeliveredMs: summarize(samples.overheadDelivered),
        routingOverheadMs: summarize(samples.routing),
        server: { toFirstStepMs: summarize(samples.firstStep), latenessPerWaitedStepMs: summarize(samples.lateness), deliveringStepMs: summarize(samples.deliveringStep) },
        handsetToMessageMs: summarize(samples.handsetToMessage),
        messageToAckMs: summarize(samples.messageToAck),
        ackToDeliveredMs: summarize(samples.ackToDelivered),
        itemsByChannel: Object.fromEntries([...byChannel.entries()].map(([k, v]) => [k, { items: v.length, sendToProviderMs: summarize(v) }])),
        errorSamples,
      };
      figures.push(figure);
      log(
        `fallback ${spec.name}: ${ok}/${measured} ok; send→${spec.channel} p50 ${figure.sendToProviderMs.p50} ms, send→delivered p50 ${figure.sendToDeliveredMs.p50} p99 ${figure.sendToDeliveredMs.p99} ms; timeouts ${figure.timeoutsMs} ms; overhead p50 ${figure.overheadToDeliveredMs.p50} ms (routing alone ${figure.routingOverheadMs.p50} ms: to first step ${figure.server.toFirstStepMs.p50}, lateness per waited step ${figure.server.latenessPerWaitedStepMs.p50}, delivering step ${figure.server.deliveringStepMs.p50})`,
      );
      for (const c of customers) await c.device.close().catch(() => {});
    }
  } finally {
    for (const u of unsubscribe) u();
  }
  return { figures, sender };
}

/**
 * Part 3 of the routing benchmark, the web path (a customer without the app), and the idle
 * probe of each channel adapter.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Sender } from '@parley/client';
import type { TwilioHandsetSms } from '@parley/emulators';
import { PARLEY_ENVELOPE_TYPE, smsDeliver, type Channel, type OutboundItem, type Recipient } from '@parley/server';
import { DEMO_BRAND, type LocalProviders, type SecondFactorInbox } from '../../packages/cli/src/demo/providers.js';
import { errorText, sleep } from '../lib/async.js';
import { summarize } from '../lib/stats.js';
import { otpText } from '../lib/workload.js';
import { wall } from '../routing-clients.js';
import { BANK, FALLBACK_CLASS, WEB_MESSAGE_AAD } from './config.js';
import type { BenchServer } from './support.js';
import type { WebPathFigure } from './types.js';

/**
 * Sends `count` web-link messages one after another and retrieves each as the page would:
 * SMS → page → describe → challenge → code → open → AES-GCM decryption.
 *
 * @example
 * const web = await runWeb(on, providers, secondFactor, sender, 6, log);
 */
export async function runWeb(on: BenchServer, providers: LocalProviders, secondFactor: SecondFactorInbox, sender: Sender, count: number, log: (line: string) => void): Promise<WebPathFigure> {
  const inboxWaiters = new Map<string, (sms: TwilioHandsetSms, at: number) => void>();
  const onSms = (sms: TwilioHandsetSms) => inboxWaiters.get(sms.to)?.(sms, wall());
  providers.twilio.on('sms', onSms);
  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${on.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const s = {
    send: [] as number[],
    toSms: [] as number[],
    page: [] as number[],
    describe: [] as number[],
    challenge: [] as number[],
    code: [] as number[],
    open: [] as number[],
    decrypt: [] as number[],
    smsToDecrypted: [] as number[],
    total: [] as number[],
  };
  const errorSamples: string[] = [];
  let ok = 0;
  let failures = 0;
  // The bank's own SMS account: the sender composes the link (the key stays with it) and sends the SMS.
  const deliver = smsDeliver(providers.businessSms, DEMO_BRAND);
  try {
    // One warm-up, then the measured ones, one after another.
    for (let i = 0; i <= count; i++) {
      const warm = i === 0;
      const customerId = `web-${i}`;
      const phone = `+1555030${String(i).padStart(4, '0')}`;
      const text = otpText(10_000 + i);
      try {
        const sms = new Promise<{ sms: TwilioHandsetSms; at: number }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no SMS reached the handset')), 15_000);
          inboxWaiters.set(phone, (m, at) => {
            clearTimeout(timer);
            resolve({ sms: m, at });
          });
        });
        const t0 = wall();
        const result = await sender.sendToWeb(customerId, phone, text, { class: FALLBACK_CLASS, deliver });
        const t1 = wall();
        if (result.path !== 'pending') throw new Error(`sendToWeb answered path ${result.path}`);
        const { sms: message, at: smsAt } = await sms;
        inboxWaiters.delete(phone);
        const link = new URL(/https?:\/\/\S+/.exec(message.text)?.[0] ?? '');
        const token = link.pathname.split('/').pop() ?? '';
        const key = link.hash.slice(1);
        const t2 = wall();
        const [page, script] = await Promise.all([fetch(`${on.url}/r/${token}`), fetch(`${on.url}/assets/retrieve.js`)]);
        await Promise.all([page.text(), script.text()]);
        if (!page.ok || !script.ok) throw new Error(`page ${page.status}, script ${script.status}`);
        const t3 = wall();
        const described = (await (await post('/v1/web/describe', { token })).json()) as { state?: string };
        if (described.state !== 'usable') throw new Error(`describe: ${JSON.stringify(described)}`);
        const t4 = wall();
        const challenged = await post('/v1/web/challenge', { token });
        await challenged.text();
        if (!challenged.ok) throw new Error(`challenge ${challenged.status}`);
        const t5 = wall();
        const code = await secondFactor.nextCode(`${BANK}:${customerId}`, 5_000);
        const t6 = wall();
        const opened = await post('/v1/web/open', { token, code, consent: true });
        const body = (await opened.json()) as { ciphertext?: string };
        if (!opened.ok || typeof body.ciphertext !== 'string') throw new Error(`open ${opened.status}: ${JSON.stringify(body).slice(0, 200)}`);
        const t7 = wall();
        const sealed = Buffer.from(body.ciphertext, 'base64');
        const aesKey = await crypto.subtle.importKey('raw', Buffer.from(key, 'base64url'), 'AES-GCM', false, ['decrypt']);
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: new TextEncoder().encode(WEB_MESSAGE_AAD) }, aesKey, sealed.subarray(12));
        const t8 = wall();
        if (new TextDecoder().decode(plain) !== text) throw new Error('decrypted text differs');
        const route = await sender.route(result.messageId);
        if (route.state !== 'delivered' || route.path !== 'sms-token-web') throw new Error(`route ${route.state}/${String(route.path)}`);
        if (warm) continue;
        ok++;
        s.send.push(t1 - t0);
        s.toSms.push(smsAt - t0);
        s.page.push(t3 - t2);
        s.describe.push(t4 - t3);
        s.challenge.push(t5 - t4);
        s.code.push(t6 - t5);
        s.open.push(t7 - t6);
        s.decrypt.push(t8 - t7);
        s.smsToDecrypted.push(t8 - smsAt);
        s.total.push(t8 - t0);
      } catch (error) {
        inboxWaiters.delete(phone);
        if (warm) throw error;
        failures++;
        if (errorSamples.length < 5) errorSamples.push(`${customerId}: ${errorText(error)}`);
      }
    }
  } finally {
    providers.twilio.off('sms', onSms);
  }
  const figure: WebPathFigure = {
    messages: count,
    ok,
    failures,
    sendMs: summarize(s.send),
    sendToSmsMs: summarize(s.toSms),
    pageMs: summarize(s.page),
    describeMs: summarize(s.describe),
    challengeMs: summarize(s.challenge),
    codeMs: summarize(s.code),
    openMs: summarize(s.open),
    decryptMs: summarize(s.decrypt),
    smsToDecryptedMs: summarize(s.smsToDecrypted),
    totalMs: summarize(s.total),
    errorSamples,
  };
  log(`web: ${ok}/${count} ok; send→SMS p50 ${figure.sendToSmsMs.p50} ms, challenge p50 ${figure.challengeMs.p50} ms, open p50 ${figure.openMs.p50} ms, total p50 ${figure.totalMs.p50} p99 ${figure.totalMs.p99} ms`);
  return figure;
}

// --- provider probe --------------------------------------------------------------------

/**
 * Each adapter called directly, one send at a time, on an idle server (no handset reacting in this process).
 *
 * @example
 * const probe = await probeProviders(providers, 10);
 */
export async function probeProviders(providers: LocalProviders, count: number): Promise<Map<string, { ms: number[]; failures: number }>> {
  const out = new Map<string, { ms: number[]; failures: number }>();
  const probePhone = '+15550409999';
  providers.setRcs(probePhone, 'parley');
  const fcmToken = providers.newPushToken('fcm');
  const apnsToken = providers.newPushToken('apns');
  const envelopeBytes = new TextEncoder().encode(JSON.stringify({ id: '1', payload: randomBytes(700).toString('base64') }));
  const cases: { channel: Channel | undefined; recipient: Recipient; item: OutboundItem }[] = [
    { channel: providers.channels.fcm, recipient: { pseudonym: 'probe-fcm', pushToken: fcmToken, deviceIds: ['probe'] }, item: { kind: 'wake', collapseId: 'probe' } },
    { channel: providers.channels.apns, recipient: { pseudonym: 'probe-apns', pushToken: apnsToken, deviceIds: ['probe'] }, item: { kind: 'wake', collapseId: 'probe' } },
    { channel: providers.channels.rbm, recipient: { pseudonym: 'probe-rbm', phone: probePhone }, item: { kind: 'ciphertext', bytes: envelopeBytes, contentType: PARLEY_ENVELOPE_TYPE } },
    {
      channel: providers.channels.sms,
      recipient: { pseudonym: 'probe-sms', phone: probePhone },
      item: { kind: 'link', text: `${DEMO_BRAND}: you have a new secure message. Open it in the app: https://parley.example/r/AAAAAAAAAAAAAAAAAAAAAA`, url: 'https://parley.example/r/AAAAAAAAAAAAAAAAAAAAAA', brand: DEMO_BRAND },
    },
  ];
  for (const { channel, recipient, item } of cases) {
    if (!channel) continue;
    const entry = { ms: [] as number[], failures: 0 };
    out.set(channel.name, entry);
    for (let i = 0; i < count + 2; i++) {
      const t0 = performance.now();
      try {
        await channel.send({ deliveryId: `probe.${i}.${channel.name}.${randomBytes(4).toString('hex')}`, messageId: `probe-${i}`, recipient, item });
        if (i >= 2) entry.ms.push(performance.now() - t0); // the first two warm the connection
      } catch {
        entry.failures++;
      }
      await sleep(5);
    }
  }
  return out;
}

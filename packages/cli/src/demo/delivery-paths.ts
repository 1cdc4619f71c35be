/**
 * The demo's delivery-path part: each business message goes down the best channel for its
 * customer, and never carries content outside end-to-end encryption. Against the embedded
 * server's provider emulators (FCM, APNs, RBM, Twilio): a push wakes Bob's app, Carol's
 * Parley RCS client gets the ciphertext, Dave's SMS link opens his app, Erin (no app)
 * reads her code on the web page, Frank gets an invitation and a policy block.
 */
import type { Device, Sender } from '@parley/client';
import { randomBytes, type Envelope } from '@parley/core';
import { smsDeliver } from '@parley/server';
import type { LocalProviders, SecondFactorInbox } from './providers.js';
import { ScenarioFailure, finishedRoute, webMessage, type Transcript } from './transcript.js';
import { readWebLink } from './web-reader.js';

/**
 * A random six-digit one-time code.
 *
 * @example
 * `Example Bank: your code is ${otpCode()}.`;
 */
export function otpCode(): string {
  const b = randomBytes(4);
  return String(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0).slice(-6).padStart(6, '0');
}

/** The text of the last SMS in the phone's inbox (the server's gateway, SMPP or Twilio emulator; or the bank's own Twilio account), once there is one. */
async function waitForSms(providers: LocalProviders, phone: string, timeoutMs: number, via?: 'twilio'): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const inbox = providers.smpp && via !== 'twilio' ? providers.smpp.inbox(phone) : providers.twilio.inbox(phone);
    const last = inbox[inbox.length - 1];
    if (last) return last.text;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new ScenarioFailure(`no SMS reached ${phone}`);
}

/** What the delivery-path part works with. */
export interface DeliveryPathsContext {
  readonly transcript: Transcript;
  readonly sender: Sender;
  readonly businessId: string;
  /** Appended to every plaintext (` <marker>` or empty). */
  readonly marker: string;
  readonly timeoutMs: number;
  readonly providers: LocalProviders;
  readonly secondFactor: SecondFactorInbox;
  /** Enrolls the phone of a customer with the app (the scenario keeps and closes it). */
  enrollPhone(subject: string, name: string, phoneNumber: string): Promise<Device>;
}

/**
 * Runs the delivery-path part; every outcome is a step of the transcript.
 *
 * @example
 * if (options.channels) await runDeliveryPaths({ transcript, sender, businessId, marker, timeoutMs, ...options.channels, enrollPhone });
 */
export async function runDeliveryPaths(c: DeliveryPathsContext): Promise<void> {
  const { transcript, sender, businessId, marker, timeoutMs, providers, secondFactor } = c;
  const step = (name: string, ok: boolean, detail?: string) => transcript.step(name, ok, detail);
  /** A customer with the app whose conversation is set up while online, then asleep. */
  const asleep = async (subject: string, name: string, phoneNumber: string): Promise<Device> => {
    const device = await c.enrollPhone(subject, name, phoneNumber);
    await device.connect();
    const welcome = await sender.send(subject, `Example Bank: welcome to secure messaging, ${name}.${marker}`, { class: 'support' });
    await transcript.record(welcome, sender.device, `Example Bank ↔ ${name}`, 'support', [device], `welcome ${name}`);
    await device.disconnect();
    return device;
  };
  // Bob's app sleeps; his phone has an FCM token: the push wakes the app, which syncs.
  const bob = await asleep('c-1002', 'Bob', '+15555550102');
  const bobToken = providers.newPushToken('fcm');
  await bob.setPushToken({ provider: 'fcm', token: bobToken });
  const stopPush = providers.fcm.onPush((push) => {
    if (push.token === bobToken) void bob.sync();
  });
  const bobOtp = await sender.send('c-1002', `Example Bank: your code is ${otpCode()}.${marker}`, { class: 'otp' });
  await transcript.record(bobOtp, sender.device, 'Example Bank ↔ Bob', 'otp', [bob], "one-time code to Bob's sleeping app (push wake-up)");
  stopPush();
  // Carol's app sleeps, no push token, but her phone runs Parley's RCS client.
  const carolPhone = '+15555550103';
  providers.setRcs(carolPhone, 'parley');
  const carol = await asleep('c-1003', 'Carol', carolPhone);
  const stopRcs = providers.rbm.onDelivered((message) => {
    if (message.phone === carolPhone && message.file) void carol.receive([JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope]);
  });
  const carolAlert = await sender.send('c-1003', `Example Bank: EUR 89.90 paid to City Parking.${marker}`, { class: 'alert' });
  await transcript.record(carolAlert, sender.device, 'Example Bank ↔ Carol', 'alert', [carol], 'alert to Carol through RCS (MLS ciphertext to the Parley RCS client)');
  stopRcs();
  // Dave: app asleep, no push, no RCS: an SMS with a one-time link that opens the app.
  const davePhone = '+15555550104';
  const dave = await asleep('c-1004', 'Dave', davePhone);
  const daveOtp = await sender.send('c-1004', `Example Bank: your code is ${otpCode()}.${marker}`, { class: 'otp' });
  const daveSms = await waitForSms(providers, davePhone, timeoutMs);
  step(`Dave's SMS carries only the brand and a link: "${daveSms}"`, !daveSms.includes('code is') && daveSms.startsWith('Example Bank:'));
  await dave.openRetrievalLink(daveSms.match(/https?:\/\/\S+/)![0]);
  await transcript.record(daveOtp, sender.device, 'Example Bank ↔ Dave', 'otp', [dave], "one-time code through Dave's SMS link (the app fetches and decrypts)");
  // Erin has no app: a web link; the key lives only in the link's fragment, composed by the
  // bank's sender and sent through the bank's own SMS account (Parley never holds the key).
  const erinPhone = '+15555550105';
  const erinText = `Example Bank: your code is ${otpCode()}. It expires in 5 minutes.${marker}`;
  const deliver = smsDeliver(providers.businessSms, 'Example Bank');
  const web = await sender.sendToWeb('c-1005', erinPhone, erinText, { class: 'otp', deliver });
  const erinSms = await waitForSms(providers, erinPhone, timeoutMs, 'twilio');
  const reading = await readWebLink(erinSms.match(/https?:\/\/\S+/)![0], () => secondFactor.nextCode(`${businessId}:c-1005`, timeoutMs));
  step(
    `Erin (no app) reads her code on the web page${reading.via === 'chromium' ? ' in headless Chromium' : ' (no Chromium or playwright-core: the page\'s requests replayed over HTTP)'}: code to the bank's second factor, consent, decrypted in the browser`,
    reading.text === erinText,
  );
  const erinRoute = await finishedRoute(sender, web.messageId, timeoutMs);
  transcript.messages.push(webMessage(web.messageId, businessId, 'Example Bank → Erin (web link)', 'otp', reading.text, erinRoute));
  // Frank has no app and the bank sends a statement: policy "invite-to-app".
  const statement = await sender.sendToWeb('c-1006', '+15555550106', `Example Bank: your November statement is ready.${marker}`, { class: 'statement', deliver });
  const frankSms = await waitForSms(providers, '+15555550106', timeoutMs);
  step(`Frank (no app) gets an invitation, nothing of the statement: "${frankSms}"`, statement.path === 'invited' && !frankSms.includes('November'));
  transcript.messages.push(webMessage(statement.messageId, businessId, 'Example Bank → Frank (no app)', 'statement', '', await finishedRoute(sender, statement.messageId, timeoutMs)));
  // A marketing notice may never leave the app: policy "block".
  const notice = await sender.sendToWeb('c-1006', '+15555550106', `Example Bank: new savings rates.${marker}`, { class: 'notice', deliver });
  step('a notice to Frank is blocked by policy (no end-to-end channel to him)', notice.path === 'blocked');
  transcript.messages.push(webMessage(notice.messageId, businessId, 'Example Bank → Frank (no app)', 'notice', '', await finishedRoute(sender, notice.messageId, timeoutMs)));
  const bytes = providers.receivedBytes();
  step(
    `the providers (FCM, APNs, RBM, Twilio) received ${bytes.length} bytes in all; no message text among them`,
    !bytes.includes(Buffer.from('your code is')) && !bytes.includes(Buffer.from('EUR 89.90')),
  );
}

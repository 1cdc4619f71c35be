/**
 * The main scenario, as a library: Example Bank's sending service, a customer
 * with a phone and a tablet, a payment alert and a one-time code, a three-party
 * support conversation (customer, bank agent, bank bot), and a tablet that is
 * stopped, misses messages, restarts from its encrypted store and reads them.
 * With the embedded server's provider emulators, the delivery paths follow
 * (demo/delivery-paths.ts); the payment alert's audit evidence closes it
 * (demo/evidence.ts). Steps and transcript: demo/transcript.ts. Rendering (text or
 * JSON) is the caller's business.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, Sender, issueEnrollmentToken } from '@parley/client';
import { FileKeyStore, nodeRuntime } from '@parley/client/node';
import { randomBytes, toBase64Url } from '@parley/core';
import { CLASSIC_SUITE, XWING_SUITE, type SuiteName } from '@parley/core/mls';
import { runCustomerWebStep } from './customer-web.js';
import { otpCode, runDeliveryPaths } from './delivery-paths.js';
import { runGatewayStep } from './gateway-step.js';
import { nextEvent, runLostPhoneStep } from './lost-phone.js';
import { pinTrust, proveAlert } from './evidence.js';
import type { ScenarioOptions, ScenarioResult } from './scenario-types.js';
import { Transcript } from './transcript.js';
import { photoPng, statementPdf } from './sample-files.js';

export type { ScenarioEvidence, ScenarioMessage, ScenarioOptions, ScenarioResult, ScenarioStep } from './scenario-types.js';
export { summarizeRoute } from './transcript.js';

const PASSPHRASE_BYTES = 24;

/**
 * Runs the scenario against the server at `serverUrl` (or the nodes `serverUrls`) and
 * reports every step; never throws for a failed step or an error (`ok: false`, and the
 * step that failed or `scenario aborted`).
 *
 * @example
 * const result = await runScenario({ serverUrl: server.url, adminToken, workDir: '/tmp/demo', onStep: (s) => console.log(s.name) });
 */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const marker = options.marker ? ` ${options.marker}` : '';
  const timeoutMs = options.deliveryTimeoutMs ?? 20_000;
  const transcript = new Transcript({ timeoutMs, onStep: options.onStep });
  const { steps, messages, labels, nodeOf } = transcript;
  const devices: Device[] = [];
  const stores = new Map<Device, FileKeyStore>();
  const step = (name: string, ok: boolean, detail?: string) => transcript.step(name, ok, detail);
  const record = transcript.record.bind(transcript);
  const waitDelivered = transcript.waitDelivered.bind(transcript);

  let businessId = 'example-bank';
  try {
    // --- An auditor pins the logs' verifier keys and the directory's VRF key up front ---------
    const trust = await pinTrust(options.serverUrl);

    // --- The bank registers with the Parley operator --------------------------------
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const jwk = await exportJWK(publicKey);
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${options.serverUrl}/v1/admin/businesses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.adminToken}` },
        body: JSON.stringify({ id: businessId, name: 'Example Bank', enrollmentKeys: [{ kid: 'k1', jwk }] }),
      });
      if (res.status === 201) break;
      if (res.status === 409 && attempt < 3) {
        businessId = `example-bank-${toBase64Url(randomBytes(3)).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`;
        continue;
      }
      step('register Example Bank with the server', false, `server answered ${res.status}`);
    }
    step('register Example Bank with the server', true, businessId);

    const token = (subject: string, kind: 'customer' | 'sender' | 'agent' | 'bot', name: string, phone?: string) =>
      issueEnrollmentToken(privateKey, 'k1', { businessId, subject, kind, name, ...(phone ? { phone } : {}) });
    const storeOptions = options.fastKeyStores ? { argon2: { memoryKiB: 64, iterations: 1, parallelism: 1 } } : {};
    const passphrases = new Map<string, string>();
    const openStore = async (name: string) => {
      const dir = join(options.workDir, name);
      // The device stores (and the directories above them) are this user's alone.
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
      let passphrase = passphrases.get(name);
      if (!passphrase) passphrases.set(name, (passphrase = toBase64Url(randomBytes(PASSPHRASE_BYTES))));
      return FileKeyStore.open(dir, { passphrase }, storeOptions);
    };
    const adopt = (device: Device, store: FileKeyStore, label: string) => {
      labels.set(device.deviceId, label);
      devices.push(device);
      stores.set(device, store);
      transcript.watch(device);
      return device;
    };
    const nodes = options.serverUrls && options.serverUrls.length > 0 ? options.serverUrls : [options.serverUrl];
    let enrolled = 0;
    const enroll = async (name: string, label: string, enrollmentToken: string, suites?: readonly SuiteName[]) => {
      const store = await openStore(name);
      // Round-robin over the nodes; a device keeps its node (Device.open reuses the stored URL).
      const serverUrl = nodes[enrolled++ % nodes.length]!;
      const device = await Device.enroll({ serverUrl, enrollmentToken, store, label, keyPackageBatch: 10, ...(suites ? { suites } : {}), ...nodeRuntime });
      if (nodes.length > 1) nodeOf.set(device.deviceId, serverUrl);
      // Seen at enrollment too: a device that is revoked later wipes its store before the end.
      if (options.inspectStore) await options.inspectStore(label, store);
      return adopt(device, store, label);
    };

    // --- Enrollment: every device makes its own keys; only public keys reach the server ---
    const sender = Sender.fromDevice(await enroll('bank-sender', 'Example Bank', await token('notifications', 'sender', 'Example Bank')));
    const agent = await enroll('bank-agent', 'Dana (agent)', await token('agent-dana', 'agent', 'Dana'));
    // The bot runs an older build without X-Wing: conversations that include it stay classic.
    const bot = await enroll('bank-bot', 'Assistant (bot)', await token('assistant', 'bot', 'Example Bank Assistant'), [CLASSIC_SUITE]);
    const phone = await enroll('alice-phone', "Alice's phone", await token('c-1001', 'customer', 'Alice', '+15555550100'));
    step('enroll the bank sender, agent, bot and Alice\'s phone (each key logged in the key transparency log)', true);

    // --- A second device: it waits until one of Alice's devices approves it ---------------
    let tablet = await enroll('alice-tablet', "Alice's tablet", await token('c-1001', 'customer', 'Alice', '+15555550100'));
    const request = tablet.keys.approvalRequest();
    step(`Alice's tablet waits for approval (short code ${request.shortCode})`, (await tablet.status()) === 'pending');
    const phoneAlerts = await phone.keys.checkOwnKeys();
    step("Alice's phone is told a new device wants to join", phoneAlerts.some((a) => a.deviceId === tablet.deviceId && a.change === 'pending-device'));
    await phone.keys.approveDevice(request.qr);
    step("Alice's phone scans the tablet's QR code and approves it (signed into the log)", (await tablet.status()) === 'active');

    const online = await Promise.all(devices.map((d) => d.connect()));
    step('connect every device over WebSocket', online.every(Boolean));
    if (nodes.length > 1) {
      const where = devices.map((d) => `${labels.get(d.deviceId)} → ${nodeOf.get(d.deviceId)}`).join(', ');
      step(`devices spread over ${nodes.length} nodes round-robin, so messages cross nodes: ${where}`, true);
    }

    // --- Business → customer: payment alert and one-time code ---------------------------
    const alertText = `Example Bank: payment of EUR 1,250.00 to ACME GmbH approved. Not you? Call us.${marker}`;
    const alert = await sender.send('c-1001', alertText, { class: 'alert', idempotencyKey: 'alert-0001' });
    await record(alert, sender.device, 'Example Bank ↔ Alice', 'alert', [phone, tablet], 'payment alert');
    const otp = await sender.send('c-1001', `Example Bank: your code is ${otpCode()}. It expires in 5 minutes.${marker}`, { class: 'otp' });
    await record(otp, sender.device, 'Example Bank ↔ Alice', 'otp', [phone, tablet], 'one-time code');
    const retry = await sender.send('c-1001', alertText, { class: 'alert', idempotencyKey: 'alert-0001' });
    step('retry of the alert with the same idempotency key is not delivered again', retry.duplicate && retry.envelopeId === alert.envelopeId);

    // --- Verification: safety number and QR scan between Alice and Example Bank --------------
    const bankIdentity = sender.device.identityId;
    const number = await phone.keys.safetyNumber(bankIdentity, sender.device.deviceId);
    step(`safety number Alice ↔ Example Bank: ${number.groups.join(' ')}`, number.digits.length === 60);
    const qr = await sender.device.keys.verificationQr(phone.identityId, phone.deviceId);
    const scan = await phone.keys.verifyScanned(bankIdentity, qr);
    step(`Alice's phone scans Example Bank's QR code: ${scan}; the conversation shows "Encrypted • Verified: Example Bank"`, scan === 'match' && (await phone.keys.verificationState(bankIdentity)) === 'verified');

    // --- The customer web app: a browser enrolls from the bank's link and shows a one-time code ---
    if (options.customerWeb) {
      const customer = { subject: 'c-1010', token: () => token('c-1010', 'customer', 'Carol') };
      await runCustomerWebStep({ transcript, appUrl: options.customerWeb.appUrl, serverUrl: nodes[0]!, sender, brand: 'Example Bank', customer, timeoutMs });
    }

    // --- A PDF statement: encrypted on the bank's side, only ciphertext in the blob store -------
    const pdf = statementPdf(['Example Bank', 'Statement, November 2026', 'Card ending 4821', 'ACME GmbH  EUR -1,250.00', `Balance  EUR 3,402.17${marker}`]);
    const pdfRef = await sender.device.attachments.upload({ data: pdf, size: pdf.length, mime: 'application/pdf', name: 'statement-2026-11.pdf' });
    const statement = await sender.send('c-1001', `Example Bank: your November statement is attached.${marker}`, { class: 'statement', attachments: [pdfRef] });
    await record(statement, sender.device, 'Example Bank ↔ Alice', 'statement', [phone, tablet], 'a PDF statement (the message carries its key and hash; the file is a separate encrypted blob)');
    step("Alice's phone and tablet download and decrypt the statement (every chunk and its SHA-256 checked; the commitment names the hash)", await transcript.decryptAttachments(statement.messageId, [phone, tablet], [pdf]));

    // --- Support thread: customer, agent, bot ----------------------------------------------
    const support = await agent.createConversation([phone.identityId, bot.identityId]);
    step('agent opens a support conversation with Alice and the bot (one MLS group, 4 devices)', agent.members(support).length === 4);
    step(
      'negotiated suites: Example Bank ↔ Alice is post-quantum (X-Wing: every device supports it); the support thread stays classic (the bot does not)',
      sender.device.conversation(alert.conversationId)?.suite === XWING_SUITE && agent.conversation(support)?.suite === CLASSIC_SUITE,
    );
    const s1 = await agent.send(support, `Hi Alice, Dana from Example Bank here. I see a question about the ACME payment.${marker}`, { class: 'support' });
    await record(s1, agent, 'Support thread', 'support', [phone, tablet, bot], 'agent greets');
    const s2 = await bot.send(support, `Assistant: 3 card payments today, the largest EUR 1,250.00 to ACME GmbH.${marker}`, { class: 'support' });
    await record(s2, bot, 'Support thread', 'support', [phone, tablet, agent], 'bot answers');
    const s3 = await phone.send(support, `That one is mine, thank you!${marker}`, { class: 'support' });
    await record(s3, phone, 'Support thread', 'support', [tablet, agent, bot], 'Alice replies');
    const photo = photoPng(96, 64, `receipt ACME GmbH${marker}`);
    const photoRef = await phone.attachments.upload({ data: photo, size: photo.length, mime: 'image/png', name: 'receipt.png' });
    const s4 = await phone.send(support, `Here is the receipt.${marker}`, { class: 'support', attachments: [photoRef] });
    await record(s4, phone, 'Support thread', 'support', [tablet, agent, bot], 'Alice sends a photo of the receipt');
    step('the agent downloads and decrypts the photo', await transcript.decryptAttachments(s4.messageId, [agent], [photo]));

    // --- The tablet goes offline and misses messages -------------------------------------
    const tabletName = 'alice-tablet';
    const tabletId = tablet.deviceId;
    await tablet.close();
    await stores.get(tablet)?.close();
    stores.delete(tablet);
    devices.splice(devices.indexOf(tablet), 1);
    step("Alice's tablet is switched off", true);
    const missed1 = await sender.send('c-1001', `Example Bank: your card ending 4821 was used at ACME GmbH.${marker}`, { class: 'alert' });
    await record(missed1, sender.device, 'Example Bank ↔ Alice', 'alert', [phone], 'card alert while the tablet is off');
    const missed2 = await agent.send(support, `Glad it is sorted. Anything else I can do?${marker}`, { class: 'support' });
    await record(missed2, agent, 'Support thread', 'support', [phone, bot], 'agent follows up while the tablet is off');
    await options.checkpoint?.('tablet-offline');

    // --- It restarts from its encrypted store and reads them -------------------------------
    const tabletStore = await openStore(tabletName);
    tablet = adopt(await Device.open({ store: tabletStore, ...nodeRuntime }), tabletStore, "Alice's tablet");
    step("Alice's tablet restarts from its encrypted store", tablet.deviceId === tabletId);
    await tablet.connect();
    const caughtUp = (await waitDelivered(missed1.messageId, [tabletId])) && (await waitDelivered(missed2.messageId, [tabletId]));
    transcript.caughtUp([missed1.messageId, missed2.messageId], tabletId);
    step("Alice's tablet reads the 2 messages it missed", caughtUp);

    // --- Revocation: the tablet is lost; the phone revokes it -------------------------------
    const tabletEnd = nextEvent(tablet, 'device-revoked', timeoutMs);
    await phone.keys.revokeDevice(tablet.deviceId);
    step("Alice loses her tablet: her phone revokes it (signed into the log)", (await phone.keys.devicesOf(phone.identityId)).some((d) => d.deviceId === tablet.deviceId && d.status === 'revoked'));
    step('the tablet, still online, checks the revocation against the key log, wipes its keys and history, and stops', (await tabletEnd) !== undefined);
    const afterLoss = await sender.send('c-1001', `Example Bank: a new card is on its way to you.${marker}`, { class: 'alert' });
    await record(afterLoss, sender.device, 'Example Bank ↔ Alice', 'alert', [phone], 'the next alert reaches only the devices still trusted');
    step('the revoked tablet is no longer in the conversation', !afterLoss.customerDevices.includes(tablet.deviceId) && afterLoss.customerDevices.includes(phone.deviceId));

    // --- The bank's services send through the gateway: one HTTP call, signed status webhooks ----
    await runGatewayStep({ transcript, serverUrl: nodes[0]!, adminToken: options.adminToken, businessId, dir: options.gatewayDir ?? join(options.workDir, 'gateway'), phone, customerId: 'c-1001', marker, timeoutMs });

    // --- Delivery paths: the best channel per customer, never content outside E2E -------------
    if (options.channels) {
      const { providers, secondFactor } = options.channels;
      const enrollPhone = async (subject: string, name: string, phoneNumber: string) =>
        enroll(`${subject}-phone`, `${name}'s phone`, await token(subject, 'customer', name, phoneNumber));
      await runDeliveryPaths({ transcript, sender, businessId, marker, timeoutMs, providers, secondFactor, enrollPhone });
    }

    // --- Audit evidence: what was sent to Alice, which devices received and read it ---------
    const path = options.evidencePath ?? join(options.workDir, 'payment-alert.evidence.json');
    const evidence = await proveAlert({ transcript, sender, phone, alert: { messageId: alert.messageId, text: alertText }, trust, timeoutMs, path });

    // --- Alice loses her phone: backup, re-enrollment, restore; the old phone ends cleanly ----
    const forget = async (device: Device) => {
      await device.close();
      const store = stores.get(device);
      if (store && options.inspectStore) await options.inspectStore(labels.get(device.deviceId) ?? device.deviceId, store);
      await stores.get(device)?.close();
      stores.delete(device);
      devices.splice(devices.indexOf(device), 1);
    };
    await runLostPhoneStep({
      transcript,
      sender,
      phone,
      customerId: 'c-1001',
      conversationId: alert.conversationId,
      marker,
      timeoutMs,
      losePhone: () => forget(phone),
      enrollNewPhone: async () =>
        enroll('alice-new-phone', "Alice's new phone", await issueEnrollmentToken(privateKey, 'k1', { businessId, subject: 'c-1001', kind: 'customer', name: 'Alice', phone: '+15555550100', reset: true })),
      reopenLostPhone: async () => {
        const store = await openStore('alice-phone');
        return { device: adopt(await Device.open({ store, ...nodeRuntime }), store, "Alice's lost phone"), store };
      },
    });

    return { ok: true, businessId, messages, steps, devices: transcript.describe(devices), evidence };
  } catch (error) {
    transcript.aborted(error);
    return { ok: false, businessId, messages, steps, devices: transcript.describe(devices) };
  } finally {
    for (const d of devices) {
      await d.close().catch(() => {});
      const store = stores.get(d);
      if (store && options.inspectStore) await options.inspectStore(labels.get(d.deviceId) ?? d.deviceId, store);
      await store?.close().catch(() => {});
    }
  }
}

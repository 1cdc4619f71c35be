/**
 * The main scenario, as a library: Example Bank's sending service, a customer
 * with a phone and a tablet, a payment alert and a one-time code, a three-party
 * support conversation (customer, bank agent, bank bot), and a tablet that is
 * stopped, misses messages, restarts from its encrypted store and reads them.
 * Rendering (text or JSON) is the caller's business.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, Sender, issueEnrollmentToken, type DeviceEvent, type SendResult } from '@parley/client';
import { FileKeyStore, nodeRuntime } from '@parley/client/node';
import type { KeyStore } from '@parley/client';
import { fromBase64, randomBytes, toBase64Url } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceReport, type EvidenceTrust } from '@parley/core/audit';
import type { Envelope, RouteViewResponse } from '@parley/core';
import type { LocalProviders, SecondFactorInbox } from './providers.js';
import { readWebLink } from './web-reader.js';
import { writePrivateFile } from '../private-files.js';

export interface ScenarioOptions {
  readonly serverUrl: string;
  /**
   * Several nodes of one deployment: devices enroll round-robin on them, in the
   * order the scenario enrolls them (the bank's sender on the first), so messages
   * cross nodes. Absent: every device uses `serverUrl`.
   */
  readonly serverUrls?: readonly string[];
  readonly adminToken: string;
  /** Directory for the devices' encrypted stores. */
  readonly workDir: string;
  /** Appended to every plaintext (the privacy test looks for it everywhere). */
  readonly marker?: string;
  /** Progress callback: one call per step. */
  readonly onStep?: (step: ScenarioStep) => void;
  /** Cheaper Argon2 for the device stores (tests). */
  readonly fastKeyStores?: boolean;
  readonly deliveryTimeoutMs?: number;
  /** Test hook: called at named points of the scenario (`tablet-offline`). */
  readonly checkpoint?: (name: string) => Promise<void>;
  /** Where to write the payment alert's evidence bundle, mode 0600 (default: in `workDir`); its directory should be 0700. */
  readonly evidencePath?: string;
  /** Test hook: called with every device's store before it is closed. */
  readonly inspectStore?: (label: string, store: KeyStore) => Promise<void>;
  /**
   * The delivery providers the server routes through (emulators on loopback) and the
   * bank's second-factor inbox: enables the delivery-path part of the scenario (push,
   * RCS, SMS links, the web page). Absent against a remote server.
   */
  readonly channels?: { readonly providers: LocalProviders; readonly secondFactor: SecondFactorInbox };
}

export interface ScenarioStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface ScenarioMessage {
  readonly id: string;
  readonly conversation: string;
  readonly conversationLabel: string;
  readonly from: string;
  readonly fromLabel: string;
  readonly class: string;
  /** What the receiving devices decrypted. */
  readonly text: string;
  readonly deliveredTo: string[];
  readonly expectedTo: string[];
  readonly deliveredToLabels: string[];
  readonly epoch: string;
  readonly storedBytes: number;
  /** How it reached the customer: app, push-app, rcs, sms-token-app, sms-token-web, blocked, invited. */
  path: string;
  /** The routing decisions, in order (metadata only). */
  route: string;
}

export interface ScenarioResult {
  readonly ok: boolean;
  readonly businessId: string;
  readonly messages: ScenarioMessage[];
  readonly steps: ScenarioStep[];
  readonly devices: { label: string; deviceId: string; identityId: string; server?: string }[];
  /** The payment alert's evidence bundle, verified offline (absent if the scenario stopped earlier). */
  readonly evidence?: ScenarioEvidence;
}

export interface ScenarioEvidence {
  readonly messageId: string;
  /** Where the bundle was written (with the opening and plaintext revealed by Alice's phone). */
  readonly path: string;
  readonly bytes: number;
  /** The trust the auditor pinned: the two logs' verifier keys and the directory's VRF key. */
  readonly trust: EvidenceTrust;
  /** Checks of the bundle as the bank exports it (no opening, no plaintext). */
  readonly report: EvidenceReport;
  /** The same bundle with the opening Alice's phone revealed: proves the exact text. */
  readonly revealed: EvidenceReport;
  /** The same opening against a forged amount: must fail. */
  readonly forgedTextRejected: boolean;
}

interface Delivery {
  text: string;
  deviceIds: Set<string>;
  waiters: (() => void)[];
}

const PASSPHRASE_BYTES = 24;

export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const marker = options.marker ? ` ${options.marker}` : '';
  const timeoutMs = options.deliveryTimeoutMs ?? 20_000;
  const steps: ScenarioStep[] = [];
  const messages: ScenarioMessage[] = [];
  const labels = new Map<string, string>();
  /** The node each device enrolled on (several nodes only). */
  const nodeOf = new Map<string, string>();
  const deliveries = new Map<string, Delivery>();
  const devices: Device[] = [];
  const stores = new Map<Device, FileKeyStore>();
  const step = (name: string, ok: boolean, detail?: string) => {
    const s: ScenarioStep = detail === undefined ? { name, ok } : { name, ok, detail };
    steps.push(s);
    options.onStep?.(s);
    if (!ok) throw new ScenarioFailure(name, detail);
  };

  const delivery = (messageId: string): Delivery => {
    let d = deliveries.get(messageId);
    if (!d) deliveries.set(messageId, (d = { text: '', deviceIds: new Set(), waiters: [] }));
    return d;
  };
  const watch = (device: Device) => {
    device.subscribe((event: DeviceEvent) => {
      if (event.type !== 'message') return;
      const d = delivery(event.messageId);
      d.text = event.text;
      d.deviceIds.add(device.deviceId);
      d.waiters.splice(0).forEach((w) => w());
    });
  };
  const waitDelivered = async (messageId: string, expected: readonly string[]): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    const d = delivery(messageId);
    while (!expected.every((id) => d.deviceIds.has(id))) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        d.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  };

  const record = async (
    sent: SendResult,
    from: Device,
    conversationLabel: string,
    cls: string,
    expected: Device[],
    what: string,
  ): Promise<void> => {
    const ok = await waitDelivered(sent.messageId, expected.map((d) => d.deviceId));
    const d = delivery(sent.messageId);
    const deliveredTo = [...d.deviceIds];
    const routed = from.kind === 'sender' ? await finishedRoute(Sender.fromDevice(from), sent.messageId, timeoutMs) : undefined;
    messages.push({
      path: routed?.path ?? 'app',
      route: routed ? summarizeRoute(routed) : 'member of the conversation: delivered over the app relay',
      id: sent.messageId,
      conversation: sent.conversationId,
      conversationLabel,
      from: from.identityId,
      fromLabel: labels.get(from.deviceId) ?? from.identityId,
      class: cls,
      text: d.text,
      deliveredTo,
      expectedTo: expected.map((e) => e.deviceId),
      deliveredToLabels: deliveredTo.map((id) => labels.get(id) ?? id),
      epoch: sent.epoch,
      storedBytes: sent.storedBytes,
    });
    step(
      `${what} (${labels.get(from.deviceId)} → ${expected.map((e) => labels.get(e.deviceId)).join(', ')})`,
      ok,
      ok ? undefined : `delivered to ${deliveredTo.length} of ${expected.length} devices within ${timeoutMs} ms`,
    );
  };

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
      watch(device);
      return device;
    };
    const nodes = options.serverUrls && options.serverUrls.length > 0 ? options.serverUrls : [options.serverUrl];
    let enrolled = 0;
    const enroll = async (name: string, label: string, enrollmentToken: string) => {
      const store = await openStore(name);
      // Round-robin over the nodes; a device keeps its node (Device.open reuses the stored URL).
      const serverUrl = nodes[enrolled++ % nodes.length]!;
      const device = await Device.enroll({ serverUrl, enrollmentToken, store, label, keyPackageBatch: 10, ...nodeRuntime });
      if (nodes.length > 1) nodeOf.set(device.deviceId, serverUrl);
      return adopt(device, store, label);
    };

    // --- Enrollment: every device makes its own keys; only public keys reach the server ---
    const sender = Sender.fromDevice(await enroll('bank-sender', 'Example Bank', await token('notifications', 'sender', 'Example Bank')));
    const agent = await enroll('bank-agent', 'Dana (agent)', await token('agent-dana', 'agent', 'Dana'));
    const bot = await enroll('bank-bot', 'Assistant (bot)', await token('assistant', 'bot', 'Example Bank Assistant'));
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

    // --- Support thread: customer, agent, bot ----------------------------------------------
    const support = await agent.createConversation([phone.identityId, bot.identityId]);
    step('agent opens a support conversation with Alice and the bot (one MLS group, 4 devices)', agent.members(support).length === 4);
    const s1 = await agent.send(support, `Hi Alice, Dana from Example Bank here. I see a question about the ACME payment.${marker}`, { class: 'support' });
    await record(s1, agent, 'Support thread', 'support', [phone, tablet, bot], 'agent greets');
    const s2 = await bot.send(support, `Assistant: 3 card payments today, the largest EUR 1,250.00 to ACME GmbH.${marker}`, { class: 'support' });
    await record(s2, bot, 'Support thread', 'support', [phone, tablet, agent], 'bot answers');
    const s3 = await phone.send(support, `That one is mine, thank you!${marker}`, { class: 'support' });
    await record(s3, phone, 'Support thread', 'support', [tablet, agent, bot], 'Alice replies');

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
    for (const m of messages) {
      if (m.id === missed1.messageId || m.id === missed2.messageId) {
        const d = delivery(m.id);
        m.deliveredTo.splice(0, m.deliveredTo.length, ...d.deviceIds);
        m.deliveredToLabels.splice(0, m.deliveredToLabels.length, ...[...d.deviceIds].map((id) => labels.get(id) ?? id));
        m.expectedTo.push(tabletId);
      }
    }
    step("Alice's tablet reads the 2 messages it missed", caughtUp);

    // --- Revocation: the tablet is lost; the phone revokes it -------------------------------
    await phone.keys.revokeDevice(tablet.deviceId);
    step("Alice loses her tablet: her phone revokes it (signed into the log)", (await phone.keys.devicesOf(phone.identityId)).some((d) => d.deviceId === tablet.deviceId && d.status === 'revoked'));
    const afterLoss = await sender.send('c-1001', `Example Bank: a new card is on its way to you.${marker}`, { class: 'alert' });
    await record(afterLoss, sender.device, 'Example Bank ↔ Alice', 'alert', [phone], 'the next alert reaches only the devices still trusted');
    step('the revoked tablet is no longer in the conversation', !afterLoss.customerDevices.includes(tablet.deviceId) && afterLoss.customerDevices.includes(phone.deviceId));

    // --- Delivery paths: the best channel per customer, never content outside E2E -------------
    if (options.channels) {
      const { providers, secondFactor } = options.channels;
      /** A customer with the app whose conversation is set up while online, then asleep. */
      const asleep = async (subject: string, name: string, phoneNumber: string): Promise<Device> => {
        const device = await enroll(`${subject}-phone`, `${name}'s phone`, await token(subject, 'customer', name, phoneNumber));
        await device.connect();
        const welcome = await sender.send(subject, `Example Bank: welcome to secure messaging, ${name}.${marker}`, { class: 'support' });
        await record(welcome, sender.device, `Example Bank ↔ ${name}`, 'support', [device], `welcome ${name}`);
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
      await record(bobOtp, sender.device, 'Example Bank ↔ Bob', 'otp', [bob], "one-time code to Bob's sleeping app (push wake-up)");
      stopPush();
      // Carol's app sleeps, no push token, but her phone runs Parley's RCS client.
      const carolPhone = '+15555550103';
      providers.setRcs(carolPhone, 'parley');
      const carol = await asleep('c-1003', 'Carol', carolPhone);
      const stopRcs = providers.rbm.onDelivered((message) => {
        if (message.phone === carolPhone && message.file) void carol.receive([JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope]);
      });
      const carolAlert = await sender.send('c-1003', `Example Bank: EUR 89.90 paid to City Parking.${marker}`, { class: 'alert' });
      await record(carolAlert, sender.device, 'Example Bank ↔ Carol', 'alert', [carol], 'alert to Carol through RCS (MLS ciphertext to the Parley RCS client)');
      stopRcs();
      // Dave: app asleep, no push, no RCS: an SMS with a one-time link that opens the app.
      const davePhone = '+15555550104';
      const dave = await asleep('c-1004', 'Dave', davePhone);
      const daveOtp = await sender.send('c-1004', `Example Bank: your code is ${otpCode()}.${marker}`, { class: 'otp' });
      const daveSms = await waitForSms(providers, davePhone, timeoutMs);
      step(`Dave's SMS carries only the brand and a link: "${daveSms}"`, !daveSms.includes('code is') && daveSms.startsWith('Example Bank:'));
      await dave.openRetrievalLink(daveSms.match(/https?:\/\/\S+/)![0]);
      await record(daveOtp, sender.device, 'Example Bank ↔ Dave', 'otp', [dave], "one-time code through Dave's SMS link (the app fetches and decrypts)");
      // Erin has no app: a web link; the key lives only in the link's fragment.
      const erinPhone = '+15555550105';
      const erinText = `Example Bank: your code is ${otpCode()}. It expires in 5 minutes.${marker}`;
      const web = await sender.sendToWeb('c-1005', erinPhone, erinText, { class: 'otp' });
      const erinSms = await waitForSms(providers, erinPhone, timeoutMs);
      const reading = await readWebLink(erinSms.match(/https?:\/\/\S+/)![0], () => secondFactor.nextCode(`${businessId}:c-1005`, timeoutMs));
      step(
        `Erin (no app) reads her code on the web page${reading.via === 'chromium' ? ' in headless Chromium' : ' (no Chromium installed: the page\'s requests replayed over HTTP)'}: code to the bank's second factor, consent, decrypted in the browser`,
        reading.text === erinText,
      );
      const erinRoute = await finishedRoute(sender, web.messageId, timeoutMs);
      messages.push(webMessage(web.messageId, businessId, 'Example Bank → Erin (web link)', 'otp', reading.text, erinRoute));
      // Frank has no app and the bank sends a statement: policy "invite-to-app".
      const statement = await sender.sendToWeb('c-1006', '+15555550106', `Example Bank: your November statement is ready.${marker}`, { class: 'statement' });
      const frankSms = await waitForSms(providers, '+15555550106', timeoutMs);
      step(`Frank (no app) gets an invitation, nothing of the statement: "${frankSms}"`, statement.path === 'invited' && !frankSms.includes('November'));
      messages.push(webMessage(statement.messageId, businessId, 'Example Bank → Frank (no app)', 'statement', '', await finishedRoute(sender, statement.messageId, timeoutMs)));
      // A marketing notice may never leave the app: policy "block".
      const notice = await sender.sendToWeb('c-1006', '+15555550106', `Example Bank: new savings rates.${marker}`, { class: 'notice' });
      step('a notice to Frank is blocked by policy (no end-to-end channel to him)', notice.path === 'blocked');
      messages.push(webMessage(notice.messageId, businessId, 'Example Bank → Frank (no app)', 'notice', '', await finishedRoute(sender, notice.messageId, timeoutMs)));
      const bytes = providers.receivedBytes();
      step(
        `the providers (FCM, APNs, RBM, Twilio) received ${bytes.length} bytes in all; no message text among them`,
        !bytes.includes(Buffer.from('your code is')) && !bytes.includes(Buffer.from('EUR 89.90')),
      );
    }

    // --- Audit evidence: what was sent to Alice, which devices received and read it ---------
    await phone.markRead(alert.messageId);
    step("Alice's phone reads the payment alert: it signs a read receipt into the audit log", true);
    const expectedReceipts = 3; // delivered on the phone and on the tablet, read on the phone
    let bundle = await sender.device.exportEvidence(alert.messageId);
    for (const deadline = Date.now() + timeoutMs; bundle.receipts.length < expectedReceipts && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      bundle = await sender.device.exportEvidence(alert.messageId);
    }
    step(
      `Example Bank exports the payment alert's evidence bundle (${bundle.receipts.length} signed receipts)`,
      bundle.receipts.length === expectedReceipts && bundle.opening === undefined,
    );
    const report = verifyEvidenceBundle(bundle, trust);
    step('an auditor verifies the bundle offline with only the logs\' keys', report.ok, report.ok ? undefined : failedChecks(report));
    const revealedBundle = await phone.exportEvidence(alert.messageId, { reveal: true });
    const opening = fromBase64(revealedBundle.opening ?? '');
    // The bundle carries Alice's opening and plaintext: the verifier checks them against the commitment.
    const revealed = verifyEvidenceBundle(revealedBundle, trust);
    const forged = verifyEvidenceBundle(revealedBundle, trust, { plaintext: alertText.replace('1,250.00', '12,500.00'), opening });
    const forgedTextRejected = !forged.ok && forged.checks.some((c) => c.code === 'plaintext_mismatch');
    step("Alice reveals the opening: it proves the alert's exact text, and no other", revealed.ok && forgedTextRejected);
    const path = options.evidencePath ?? join(options.workDir, 'payment-alert.evidence.json');
    const serialized = `${JSON.stringify(revealedBundle, null, 2)}\n`;
    await writePrivateFile(path, serialized); // holds Alice's plaintext: 0600
    const evidence: ScenarioEvidence = {
      messageId: alert.messageId,
      path,
      bytes: Buffer.byteLength(JSON.stringify(bundle)),
      trust,
      report,
      revealed,
      forgedTextRejected,
    };

    return { ok: true, businessId, messages, steps, devices: describe(devices, labels, nodeOf), evidence };
  } catch (error) {
    if (!(error instanceof ScenarioFailure)) {
      const detail = error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error);
      steps.push({ name: 'scenario aborted', ok: false, detail });
      options.onStep?.({ name: 'scenario aborted', ok: false, detail });
    }
    return { ok: false, businessId, messages, steps, devices: describe(devices, labels, nodeOf) };
  } finally {
    for (const d of devices) {
      await d.close().catch(() => {});
      const store = stores.get(d);
      if (store && options.inspectStore) await options.inspectStore(labels.get(d.deviceId) ?? d.deviceId, store);
      await store?.close().catch(() => {});
    }
  }
}

async function pinTrust(serverUrl: string): Promise<EvidenceTrust> {
  const logs = (await (await fetch(`${serverUrl}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  const keys = (await (await fetch(`${serverUrl}/v1/keys`)).json()) as { vrfPublicKey: string };
  const key = (name: string) => {
    const log = logs.logs.find((l) => l.name === name);
    if (!log) throw new ScenarioFailure(`the server lists no ${name} log`);
    return log.verifierKey;
  };
  return { auditLogKey: key('audit'), keyLogKey: key('keys'), vrfPublicKey: keys.vrfPublicKey };
}

function failedChecks(report: EvidenceReport): string {
  return report.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.code}`)
    .join('; ');
}

function describe(devices: Device[], labels: Map<string, string>, nodeOf: Map<string, string>) {
  return devices.map((d) => {
    const server = nodeOf.get(d.deviceId);
    return { label: labels.get(d.deviceId) ?? d.deviceId, deviceId: d.deviceId, identityId: d.identityId, ...(server ? { server } : {}) };
  });
}

function otpCode(): string {
  const b = randomBytes(4);
  return String(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0).slice(-6).padStart(6, '0');
}

/** Waits until a route is no longer active (the ack that finishes it is asynchronous). */
async function finishedRoute(sender: Sender, messageId: string, timeoutMs: number): Promise<RouteViewResponse> {
  let view = await sender.route(messageId);
  for (const deadline = Date.now() + timeoutMs; view.state === 'active' && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    view = await sender.route(messageId);
  }
  return view;
}

/** The routing decisions of a message in one line: channels tried and what happened. */
export function summarizeRoute(view: RouteViewResponse): string {
  const shown = new Set(['waiting', 'sent', 'skipped', 'failed', 'retry', 'token-dropped', 'delivered', 'invited', 'blocked', 'web-link-sent', 'exhausted', 'revoked']);
  return view.events
    .filter((e) => shown.has(e.decision))
    .map((e) => `${e.channel ?? e.step} ${e.decision}${e.reason && e.decision !== 'waiting' ? ` (${e.reason})` : ''}`)
    .join(' → ');
}

async function waitForSms(providers: LocalProviders, phone: string, timeoutMs: number): Promise<string> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
    const inbox = providers.smpp ? providers.smpp.inbox(phone) : providers.twilio.inbox(phone);
    const last = inbox[inbox.length - 1];
    if (last) return last.text;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new ScenarioFailure(`no SMS reached ${phone}`);
}

function webMessage(id: string, businessId: string, label: string, cls: string, text: string, route: RouteViewResponse): ScenarioMessage {
  return {
    id,
    conversation: '',
    conversationLabel: label,
    from: `${businessId}:notifications`,
    fromLabel: 'Example Bank',
    class: cls,
    text,
    deliveredTo: [],
    expectedTo: [],
    deliveredToLabels: route.path === 'sms-token-web' ? ['a web browser (one-time link)'] : [],
    epoch: '-',
    storedBytes: 0,
    path: route.path ?? route.state,
    route: summarizeRoute(route),
  };
}

class ScenarioFailure extends Error {
  constructor(step: string, detail?: string) {
    super(`${step}${detail ? `: ${detail}` : ''}`);
  }
}

// Parley from plain Node.js: a business backend sends a one-time code, a customer's device
// receives and decrypts it, and the evidence of that message is verified offline.
//
//   npm install @parley/client @parley/core
//   npx parley serve                      # in another terminal (npm install @parley/cli)
//   PARLEY_URL=http://127.0.0.1:8080 PARLEY_ADMIN_TOKEN=$(cat .parley/data/keys/admin-token) \
//     node node-quickstart.mjs
//
// No TypeScript, no bundler: the packages ship compiled ES modules with type declarations.
// The script prints one JSON line with what happened.
import { Device, MemoryKeyStore, Sender, issueEnrollmentToken } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { verifyEvidenceBundle } from '@parley/core/audit';

const serverUrl = process.env.PARLEY_URL ?? 'http://127.0.0.1:8080';
const adminToken = process.env.PARLEY_ADMIN_TOKEN;
if (!adminToken) {
  console.error('set PARLEY_ADMIN_TOKEN (parley serve writes one into <data-dir>/keys/admin-token)');
  process.exit(2);
}

// 1. The business. Its backend holds an Ed25519 enrollment key: the server knows only the
//    public half and accepts devices whose short-lived enrollment token that key signed.
//    (Registering a business is an operator's step, done once with the admin token.)
const businessId = `quickstart-${Date.now().toString(36)}`;
const enrollmentKey = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
const { kty, crv, x } = await crypto.subtle.exportKey('jwk', enrollmentKey.publicKey);
const created = await fetch(`${serverUrl}/v1/admin/businesses`, {
  method: 'POST',
  headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
  body: JSON.stringify({ id: businessId, name: 'Example Bank', enrollmentKeys: [{ kid: 'k1', jwk: { kty, crv, x } }] }),
});
if (created.status !== 201) throw new Error(`creating the business failed: HTTP ${created.status} ${await created.text()}`);

/** What the business backend hands a device it vouches for (valid for minutes, single use). */
const tokenFor = (subject, kind, extra = {}) =>
  issueEnrollmentToken(enrollmentKey.privateKey, 'k1', { businessId, subject, kind, ...extra });

// 2. The business's sending service: a device of kind `sender`. Its keys stay in its KeyStore
//    (MemoryKeyStore here; FileKeyStore from '@parley/client/node' keeps them encrypted on disk).
const sender = await Sender.enroll({
  serverUrl,
  enrollmentToken: await tokenFor('otp-service', 'sender', { name: 'Example Bank' }),
  store: new MemoryKeyStore(),
  ...nodeRuntime,
});

// 3. The customer's device (in a real app: the phone, after the customer signed in to the bank).
const phone = await Device.enroll({
  serverUrl,
  enrollmentToken: await tokenFor('c-1001', 'customer'),
  store: new MemoryKeyStore(),
  ...nodeRuntime,
});

// Listen before connecting, so no event is missed.
const received = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('no message within 30 s')), 30_000);
  const stop = phone.subscribe((event) => {
    if (event.type === 'undecryptable') console.error(`undecryptable envelope: ${event.reason}`);
    if (event.type !== 'message') return;
    clearTimeout(timer);
    stop();
    resolve(event);
  });
});
await Promise.all([sender.connect(), phone.connect()]);

// 4. Send the code. The Sender looks up c-1001's devices in the key directory (verified
//    against the transparency log), opens an MLS conversation with them, and encrypts; the
//    server only ever sees ciphertext. It also signs a commitment to the text for the audit log.
const code = String(crypto.getRandomValues(new Uint32Array(1))[0] % 1_000_000).padStart(6, '0');
const sent = await sender.send('c-1001', `Example Bank: your sign-in code is ${code}`, {
  class: 'otp',
  idempotencyKey: `otp-${businessId}`,
});

// 5. The phone decrypts it and checks the sender's commitment.
const message = await received;

// 6. Evidence: the bundle proves (offline, from the logs' public keys alone) that the business
//    committed to this message and which devices received it. Pin these keys out of band in
//    production; fetching them from the server you are auditing is for this demo only.
const logs = await (await fetch(`${serverUrl}/v1/logs`)).json();
const keys = await (await fetch(`${serverUrl}/v1/keys`)).json();
const trust = {
  auditLogKey: logs.logs.find((l) => l.name === 'audit').verifierKey,
  keyLogKey: logs.logs.find((l) => l.name === 'keys').verifierKey,
  vrfPublicKey: keys.vrfPublicKey,
};
// The customer reveals the opening to prove the text itself (e.g. in a dispute).
const evidence = await phone.exportEvidence(sent.messageId, { reveal: true });
const report = verifyEvidenceBundle(evidence, trust, {
  plaintext: evidence.plaintext,
  opening: Uint8Array.from(Buffer.from(evidence.opening, 'base64')),
});

console.log(
  JSON.stringify({
    businessId,
    messageId: sent.messageId,
    sentTo: sent.customerDevices.length,
    received: message.text === `Example Bank: your sign-in code is ${code}`,
    class: message.class,
    commitmentVerified: message.audit?.verified === true,
    evidenceOk: report.ok,
    failedChecks: report.checks.filter((c) => !c.ok).map((c) => c.name),
  }),
);

await Promise.all([sender.close(), phone.close()]);

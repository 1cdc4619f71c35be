/**
 * A business sender whose identity key and MLS signature key are held by external Ed25519
 * signers (an HSM's stand-in: the private key lives only in a closure, every call is
 * counted), end to end on a real server: the customer decrypts the business message and
 * verifies its commitment, the evidence bundle verifies offline, the signers made the MLS
 * and commitment signatures, the KeyStore holds no private byte of either key, and the
 * device reopens only with the same signers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromUtf8, toBase64, toBase64Url, toHex, utf8, type Ed25519Signer } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import { nodeRuntime } from '@parley/client/node';
import { Device, MemoryKeyStore, Sender, SignerError, type DeviceEvent, type KeyStore } from '../src/index.js';
import { EventLog, createBusiness, enroll, startTestServer, type Business, type TestServer, serverTrust } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let trust: EvidenceTrust;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'hsm-bank');
  trust = await serverTrust(t.url);
});
afterAll(async () => t?.stop());

/** An in-memory stand-in for an HSM key: the seed stays in this closure; every message signed is recorded. */
interface CountingSigner extends Ed25519Signer {
  readonly signed: Uint8Array[];
  /** Calls whose message contains `marker` (an ASCII context string or MLS label). */
  count(marker: string): number;
  /** The private key, for the test's scan of the store only. */
  readonly secretForScan: Uint8Array;
}

function countingSigner(): CountingSigner {
  const seed = ed25519.utils.randomSecretKey();
  const signed: Uint8Array[] = [];
  return {
    publicKey: ed25519.getPublicKey(seed),
    description: 'test HSM',
    signed,
    secretForScan: seed,
    count: (marker) => signed.filter((m) => fromUtf8Lossy(m).includes(marker)).length,
    async sign(message) {
      signed.push(message.slice());
      return ed25519.sign(message, seed);
    },
  };
}

function fromUtf8Lossy(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

/** Every encoding of `secret` a record could hold it in. */
function encodings(secret: Uint8Array): Uint8Array[] {
  return [secret, utf8(toBase64(secret)), utf8(toBase64(secret).replace(/=+$/, '')), utf8(toBase64Url(secret)), utf8(toHex(secret))];
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function receiptsArrive(device: Device, messageId: string, count: number) {
  for (let i = 0; i < 200; i++) {
    const bundle = await device.exportEvidence(messageId);
    if (bundle.receipts.length >= count) return bundle;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('receipts did not arrive');
}

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

async function enrollHsmSender(store: KeyStore, signers: { identity?: Ed25519Signer; mls?: Ed25519Signer }, subject = 'sender'): Promise<Sender> {
  return Sender.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(subject, 'sender', { name: 'HSM Bank' }),
    store,
    keyPackageBatch: 3,
    signers,
    ...nodeRuntime,
  });
}

describe('a sender with its keys in external signers', () => {
  it('sends a business message the customer verifies; evidence verifies; the store holds no private key; reopening needs the same signers', async () => {
    const identity = countingSigner();
    const mls = countingSigner();
    const store = new MemoryKeyStore();
    const sender = await enrollHsmSender(store, { identity, mls });
    // Enrollment: the registration proof by the identity signer; KeyPackages signed in MLS by the other.
    expect(identity.count('parley/v1/register-device')).toBe(1);
    // 3 one-time and 1 last-resort KeyPackage per suite (classic and X-Wing), all signed by the external MLS key.
    expect(mls.count('MLS 1.0 KeyPackageTBS')).toBe(8);
    expect(mls.count('parley/')).toBe(1); // its possession check, nothing else of Parley's
    expect(sender.device.identityKey).toEqual(identity.publicKey);

    const phone = await enroll(t.url, bank, 'cust-hsm', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const mlsBefore = mls.count('MLS 1.0 FramedContentTBS');
    const text = 'HSM Bank: your card ending 4242 was charged EUR 12.00.';
    const sent = await sender.send('cust-hsm', text, { class: 'alert' });
    const onPhone = (await phoneLog.waitFor(isMessage(sent.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(onPhone.text).toBe(text);
    expect(onPhone.sender.identityId).toBe(sender.device.identityId);
    expect(onPhone.audit).toEqual({ commitmentHash: sent.audit!.commitmentHash, verified: true });
    // The commit that made the group and the application message: signed by the MLS signer.
    expect(mls.count('MLS 1.0 FramedContentTBS')).toBeGreaterThanOrEqual(mlsBefore + 2);
    expect(mls.count('MLS 1.0 LeafNodeTBS')).toBeGreaterThanOrEqual(1);
    expect(identity.count('parley/v1/commitment')).toBe(1);
    expect(identity.count('parley/v1/session')).toBeGreaterThanOrEqual(1);
    // No MLS content went to the identity signer, no Parley statement to the MLS one.
    expect(identity.count('MLS 1.0')).toBe(0);

    const bundle = await receiptsArrive(sender.device, sent.messageId, 1);
    const report = verifyEvidenceBundle(bundle, trust);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.message).toMatchObject({ id: sent.messageId, sender: sender.device.identityId, recipient: phone.identityId, class: 'alert' });

    // Every record of the sender's store: no private byte of either key, in any encoding.
    const names = await store.list('');
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const bytes = (await store.get(name))!;
      for (const secret of [identity.secretForScan, mls.secretForScan]) {
        for (const needle of encodings(secret)) expect(contains(bytes, needle), `record ${name}`).toBe(false);
      }
    }
    const record = JSON.parse(fromUtf8((await store.get('device'))!)) as Record<string, unknown>;
    expect(record).not.toHaveProperty('identityPrivateKey');
    expect(record).not.toHaveProperty('signaturePrivateKey');
    expect(record).toMatchObject({ identityPublicKey: toBase64(identity.publicKey), signaturePublicKey: toBase64(mls.publicKey) });
    expect(typeof record.identityKeyRef).toBe('string');
    expect(typeof record.signatureKeyRef).toBe('string');
    await sender.device.close();

    // Reopening: without the signers, with another key, or with only one of them: typed errors.
    const other = countingSigner();
    await expect(Sender.open({ store, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_required', details: { key: 'identity' } });
    await expect(Sender.open({ store, signers: { identity }, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_required', details: { key: 'mls' } });
    await expect(Sender.open({ store, signers: { identity: other, mls }, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_mismatch', details: { key: 'identity' } });
    await expect(Sender.open({ store, signers: { identity, mls: other }, ...nodeRuntime })).rejects.toBeInstanceOf(SignerError);
    // A signer that claims the right public key but signs with another key.
    const impostor: Ed25519Signer = { publicKey: mls.publicKey, sign: (m) => other.sign(m) };
    await expect(Sender.open({ store, signers: { identity, mls: impostor }, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_mismatch', details: { key: 'mls' } });

    // With the same signers the group state (which holds only the key reference) works on.
    const reopened = await Sender.open({ store, signers: { identity, mls }, ...nodeRuntime });
    await reopened.connect();
    const commitments = identity.count('parley/v1/commitment');
    const again = await reopened.send('cust-hsm', 'HSM Bank: second message.', { class: 'alert' });
    const second = (await phoneLog.waitFor(isMessage(again.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(second.audit?.verified).toBe(true);
    expect(identity.count('parley/v1/commitment')).toBe(commitments + 1);
    await Promise.all([reopened.close(), phone.close()]);
  });

  it('a device with keys in its store refuses a signer, and one signer may hold only the identity key', async () => {
    const store = new MemoryKeyStore();
    const phone = await enroll(t.url, bank, 'cust-local', 'customer', store);
    await phone.close();
    await expect(Device.open({ store, signers: { identity: countingSigner() }, ...nodeRuntime })).rejects.toMatchObject({ code: 'signer_mismatch', details: { key: 'identity' } });
    // Existing (local-key) stores open as before.
    await (await Device.open({ store, ...nodeRuntime })).close();

    const identity = countingSigner();
    const mixedStore = new MemoryKeyStore();
    const sender = await enrollHsmSender(mixedStore, { identity }, 'sender-mixed');
    const record = JSON.parse(fromUtf8((await mixedStore.get('device'))!)) as Record<string, unknown>;
    expect(record).not.toHaveProperty('identityPrivateKey');
    expect(typeof record.signaturePrivateKey).toBe('string');
    const phone2 = await enroll(t.url, bank, 'cust-mixed', 'customer');
    const log = new EventLog(phone2);
    await Promise.all([sender.connect(), phone2.connect()]);
    const sent = await sender.send('cust-mixed', 'HSM Bank: mixed keys.', { class: 'alert' });
    const got = (await log.waitFor(isMessage(sent.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(got.audit?.verified).toBe(true);
    expect(identity.count('parley/v1/commitment')).toBe(1);
    await Promise.all([sender.close(), phone2.close()]);
  });

  it('enrollment refuses a signer that does not sign under its public key, before anything reaches the server', async () => {
    const real = countingSigner();
    const liar: Ed25519Signer = { publicKey: countingSigner().publicKey, sign: (m) => real.sign(m) };
    const store = new MemoryKeyStore();
    await expect(enrollHsmSender(store, { identity: liar }, 'sender-liar')).rejects.toMatchObject({ code: 'signer_mismatch', details: { key: 'identity' } });
    const broken: Ed25519Signer = { publicKey: real.publicKey, sign: async () => new Uint8Array(10) };
    await expect(enrollHsmSender(store, { mls: broken }, 'sender-broken')).rejects.toMatchObject({ code: 'signer_failed' });
    expect(await store.list('')).toEqual([]);
  });
});

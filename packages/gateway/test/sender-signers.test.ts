/**
 * A gateway whose sender keys (identity and MLS signature) are held by external Ed25519
 * signers — the seam `parley gateway --signer pkcs11:…` plugs an HSM into; here an
 * in-memory stand-in that keeps its key in a closure and records what it signs. The
 * gateway refuses to start without them or with other keys, sends through them, serves
 * evidence with them, and its database holds no private byte of either key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { toBase64, toBase64Url, toHex, utf8, type Ed25519Signer } from '@parley/core';
import { EventLog } from '@parley/test-kit/sdk';
import { DbKeyStore, loadDataKey } from '../src/index.js';
import { call, enrollCustomer, gatewayWorld, type GatewayWorld } from './fixtures.js';

interface RecordingSigner extends Ed25519Signer {
  count(marker: string): number;
  readonly secretForScan: Uint8Array;
}

function recordingSigner(): RecordingSigner {
  const seed = ed25519.utils.randomSecretKey();
  const signed: string[] = [];
  return {
    publicKey: ed25519.getPublicKey(seed),
    description: 'test HSM',
    secretForScan: seed,
    count: (marker) => signed.filter((m) => m.includes(marker)).length,
    async sign(message) {
      signed.push(new TextDecoder().decode(message));
      return ed25519.sign(message, seed);
    },
  };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const identity = recordingSigner();
const mls = recordingSigner();
let world: GatewayWorld;

beforeAll(async () => {
  world = await gatewayWorld({ senderSigners: { identity, mls } });
});
afterAll(async () => {
  await world?.close();
});

describe('gateway: sender keys in external signers', () => {
  it('starts only with the same signers', async () => {
    await expect(world.start()).rejects.toMatchObject({ code: 'signer_required' });
    await expect(world.start({ senderSigners: { identity: recordingSigner(), mls } })).rejects.toMatchObject({ code: 'signer_mismatch' });
  });

  it('sends through the signers, serves evidence, and keeps no private key in its database', async () => {
    const gateway = await world.start({ senderSigners: { identity, mls } });
    const phone = await enrollCustomer(gateway, world.apiKey, 'c-hsm-1');
    const events = new EventLog(phone);
    await phone.connect();
    const sent = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-hsm-1', class: 'alert', body: 'Card charged EUR 7.00' });
    expect(sent.status).toBe(202);
    const id = sent.body.id as string;
    const received = await events.waitFor((e) => e.type === 'message' && e.messageId === id, 30_000);
    expect(received.type === 'message' && received.audit?.verified).toBe(true);
    expect(identity.count('parley/v1/commitment')).toBe(1);
    expect(mls.count('MLS 1.0 FramedContentTBS')).toBeGreaterThanOrEqual(2);

    await world.receiver.waitFor(() => world.receiver.of(id).some((w) => w.type === 'message.delivered'), 30_000);
    const evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}/evidence`);
    expect(evidence.status).toBe(200);
    expect(evidence.body.commitment.messageId).toBe(id);

    // The sealed records, opened with the data key: public keys and references only.
    const store = new DbKeyStore(world.db, await loadDataKey(world.db, world.keyWrapper));
    const names = await store.list('');
    expect(names).toContain('device');
    for (const name of names) {
      const bytes = (await store.get(name))!;
      for (const secret of [identity.secretForScan, mls.secretForScan]) {
        for (const needle of [secret, utf8(toBase64(secret)), utf8(toBase64Url(secret)), utf8(toHex(secret))]) {
          expect(contains(bytes, needle), `record ${name}`).toBe(false);
        }
      }
    }
    await phone.close();
  });
});

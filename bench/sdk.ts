/**
 * SDK overhead: 1:1 messages/s through the SDK's full per-message device work
 * (content encoding, MLS encryption, persisting the ratcheted state, outbox and
 * history, submit; then decryption, sender authentication, deduplication,
 * persisting, the event, the ack) against the same work done with raw ts-mls
 * calls (createApplicationMessage + processPrivateMessage), both on the
 * node:crypto provider. Setup runs against a real server on loopback; during
 * the measured phase the transport answers in memory, so network and database
 * time are excluded (the relay benchmark measures those).
 *
 * Run alone: `npx tsx bench/sdk.ts [--quick]`.
 */
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  zeroOutUint8Array,
} from 'ts-mls';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, MemoryKeyStore, issueEnrollmentToken, type DeviceEvent } from "@parley/client";
import type { Envelope } from "@parley/core";
import { nodeRuntime } from '@parley/client/node';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { startServer } from '@parley/server';
import { runStandalone } from './lib/entry.js';

/** SDK and raw ts-mls 1:1 message rates. */
export interface SdkBenchResult {
  messages: number;
  sdkPairsPerSecond: number;
  rawPairsPerSecond: number;
  /** raw ÷ SDK: how many times more work per message the SDK does. */
  overheadRatio: number;
  payloadBytes: number;
  provider: string;
}

const ADMIN = 'bench-admin-token';

async function measureRaw(count: number, text: Uint8Array): Promise<number> {
  const impl = await nodeCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'));
  const a = await generateKeyPackage({ credentialType: 'basic', identity: new TextEncoder().encode('a') }, defaultCapabilities(), defaultLifetime, [], impl);
  const b = await generateKeyPackage({ credentialType: 'basic', identity: new TextEncoder().encode('b') }, defaultCapabilities(), defaultLifetime, [], impl);
  let alice = await createGroup(new TextEncoder().encode('bench-group'), a.publicPackage, a.privatePackage, [], impl);
  const commit = await createCommit({ state: alice, cipherSuite: impl }, { extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }] });
  alice = commit.newState;
  let bob = await joinGroup(commit.welcome!, b.publicPackage, b.privatePackage, emptyPskIndex, impl, alice.ratchetTree);
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const enc = await createApplicationMessage(alice, text, impl);
      alice = enc.newState;
      enc.consumed.forEach(zeroOutUint8Array);
      const dec = await processPrivateMessage(bob, enc.privateMessage, makePskIndex(bob, {}), impl);
      bob = dec.newState;
      dec.consumed.forEach(zeroOutUint8Array);
    }
  };
  await run(Math.min(200, count));
  const t0 = performance.now();
  await run(count);
  return count / ((performance.now() - t0) / 1000);
}

/**
 * Runs the SDK benchmark against an embedded server (measured with an in-memory transport).
 *
 * @example
 * const r = await runSdkBench({ quick: true });
 * console.log(r.overheadRatio);
 */
export async function runSdkBench(opts: { quick?: boolean; onProgress?: (line: string) => void } = {}): Promise<SdkBenchResult> {
  const count = opts.quick ? 500 : 3000;
  const say = opts.onProgress ?? (() => {});
  const text = 'x'.repeat(900);
  const server = await startServer({ adminToken: ADMIN, log: { level: 'warn' } });
  try {
    // Transport switch: real HTTP during setup, in-memory answers while measuring.
    let measuring = false;
    let nextId = 1;
    let lastSubmit: { conversationId: string; message: string } | undefined;
    const fakeFetch: typeof fetch = async (input, init) => {
      if (!measuring) return fetch(input, init);
      const url = String(input);
      // A minimal Response: undici's body streams would be measured otherwise.
      const json = (body: unknown) => ({ ok: true, status: 200, headers: new Headers(), json: async () => body }) as unknown as Response;
      if (url.endsWith('/v1/messages')) {
        lastSubmit = JSON.parse(String(init?.body));
        return json({ id: String(nextId++), duplicate: false, recipients: 1, storedBytes: 1000 });
      }
      if (url.endsWith('/v1/mailbox/ack')) return json({ acked: 1, unknown: [] });
      throw new Error(`unexpected request during measurement: ${url}`);
    };

    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    await fetch(`${server.url}/v1/admin/businesses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ id: 'bench', name: 'Bench', enrollmentKeys: [{ kid: 'k1', jwk: await exportJWK(publicKey) }] }),
    });
    const enroll = async (subject: string, kind: 'sender' | 'customer') =>
      Device.enroll({
        serverUrl: server.url,
        enrollmentToken: await issueEnrollmentToken(privateKey, 'k1', { businessId: 'bench', subject, kind }),
        store: new MemoryKeyStore(),
        keyPackageBatch: 2,
        fetch: fakeFetch,
        ...nodeRuntime,
      });
    const alice = await enroll('alice', 'sender');
    const bob = await enroll('bob', 'customer');
    const conversationId = await alice.createConversation([bob.identityId]);
    await bob.sync();
    let received = 0;
    bob.subscribe((e: DeviceEvent) => {
      if (e.type === 'message') received++;
    });

    measuring = true;
    const run = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const sent = await alice.send(conversationId, text, { class: 'bench' });
        const envelope: Envelope = {
          id: sent.envelopeId,
          conversationId,
          senderDeviceId: alice.deviceId,
          senderIdentityId: alice.identityId,
          kind: 'application',
          epoch: sent.epoch,
          payload: lastSubmit!.message,
          createdAt: new Date().toISOString(),
        };
        await bob.receive([envelope]);
      }
    };
    say(`sdk: warm-up`);
    await run(Math.min(200, count));
    say(`sdk: ${count} messages through the SDK`);
    const t0 = performance.now();
    const before = received;
    await run(count);
    const sdkPairsPerSecond = count / ((performance.now() - t0) / 1000);
    if (received - before !== count) throw new Error(`SDK delivered ${received - before} of ${count}`);
    measuring = false;
    await alice.close();
    await bob.close();

    say(`sdk: ${count} messages with raw ts-mls`);
    const rawPairsPerSecond = await measureRaw(count, new TextEncoder().encode(text));
    return {
      messages: count,
      sdkPairsPerSecond: Math.round(sdkPairsPerSecond),
      rawPairsPerSecond: Math.round(rawPairsPerSecond),
      overheadRatio: Number((rawPairsPerSecond / sdkPairsPerSecond).toFixed(2)),
      payloadBytes: text.length,
      provider: 'node:crypto',
    };
  } finally {
    await server.stop();
  }
}

// Run alone: npx tsx bench/sdk.ts [--quick]
runStandalone(import.meta.url, (a, progress) => runSdkBench({ quick: a.quick, onProgress: progress }), { percentile: false });

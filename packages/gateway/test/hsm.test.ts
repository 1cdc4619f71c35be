/**
 * `parley gateway init --signer` / `parley gateway --signer`: the data key is wrapped by an
 * AES key generated inside the business's PKCS#11 token (SoftHSM2, label
 * `parley-gateway-wrap`), not by a key file, and the sender's identity and MLS signature keys
 * are Ed25519 keys generated in the same token (`parley-gateway-identity`, `parley-gateway-mls`). Init, API key, a gateway process, a customer
 * enrolled through it, and a message sent and decrypted end to end; no key file is
 * written; exactly one of --key-file / --signer; another token cannot open the data.
 * (Each `parley` child loads the sources through tsx: seconds each, hence the timeout.)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';
import { EventLog } from '@parley/test-kit/sdk';
import { softHsmStatus, startSoftHsm, type SoftHsm } from '@parley/test-kit/softhsm';
import { equalBytes } from '@parley/core';
import { Pkcs11Signer } from '@parley/custody';
import { openGatewayDatabase } from '../src/index.js';
import { call, enrollCustomer } from './fixtures.js';
import { BIN, spawnGateway, type GatewayProcess } from './gateway-process.js';

const hsm = softHsmStatus();
if (!hsm.ok) console.log(hsm.note);

/** Runs `parley …` to completion: exit code and output. */
function parley(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!hsm.ok)('gateway with its wrapping key in a PKCS#11 token (SoftHSM2)', () => {
  let token: SoftHsm;
  let otherToken: SoftHsm;
  let server: TestServer;
  let dir: string;
  let gateway: GatewayProcess | undefined;

  beforeAll(async () => {
    token = await startSoftHsm({ label: 'bank-hsm' });
    otherToken = await startSoftHsm({ label: 'other-hsm' });
    server = await startTestServer();
    dir = await mkdtemp(join(tmpdir(), 'parley-gw-hsm-'));
    await writeFile(join(dir, 'admin-token'), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await gateway?.kill('SIGTERM');
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
    await token?.cleanup();
    await otherToken?.cleanup();
  });

  it('init and serve with --signer: the key is made in the token, messages flow, no key file exists', async () => {
    const dataDir = join(dir, 'gw');
    // Exactly one of --key-file / --signer.
    const both = await parley(['gateway', 'init', '--server', server.url, '--business', 'hsm-bank', '--admin-token-file', join(dir, 'admin-token'), '--data-dir', dataDir, '--key-file', join(dir, 'k'), '--signer', token.uri()]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('either --key-file');

    const init = await parley(['gateway', 'init', '--server', server.url, '--business', 'hsm-bank', '--admin-token-file', join(dir, 'admin-token'), '--data-dir', dataDir, '--signer', token.uri(), '--json']);
    expect(init.code, init.stderr).toBe(0);
    const result = JSON.parse(init.stdout) as { wrapKey: string; wrapKeyId: string; wrapKeyCreated: boolean; keyFile?: string; businessId: string; senderDeviceId: string };
    expect(result).toMatchObject({ businessId: 'hsm-bank', wrapKey: `pkcs11:token=bank-hsm;object=parley-gateway-wrap`, wrapKeyCreated: true });
    expect(result.wrapKeyId).toMatch(/^pkcs11:object=parley-gateway-wrap;id=[0-9a-f]{32}$/);
    expect(result.keyFile).toBeUndefined();
    expect(init.stdout + init.stderr).not.toContain(token.pin);

    const created = await parley(['gateway', 'keys', 'create', '--label', 'bank-service', '--data-dir', dataDir, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const apiKey = (JSON.parse(created.stdout) as { key: string }).key;

    // Another token (no such key there): the data key does not open.
    const wrongToken = await parley(['gateway', '--data-dir', dataDir, '--port', '0', '--signer', otherToken.uri()]);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toContain('pkcs11_key_not_found');

    gateway = await spawnGateway(['--data-dir', dataDir, '--signer', token.uri(), '--port', '0', '--log-level', 'warn']);
    const phone = await enrollCustomer(gateway, apiKey, 'c-hsm-1');
    const events = new EventLog(phone);
    await phone.connect();
    try {
      const sent = await call(gateway, apiKey, 'POST', '/v1/messages', { to: 'c-hsm-1', class: 'alert', body: 'Card charged $12 (HSM custody)' });
      expect(sent.status).toBe(202);
      const received = await events.waitFor((e) => e.type === 'message' && e.text === 'Card charged $12 (HSM custody)', 30_000);
      expect(received.type === 'message' && received.messageId).toBe(sent.body.id);
    } finally {
      await phone.close();
    }
    // The sender's identity and MLS signature keys were generated in the token: the keys the
    // directory holds for the sender device are the token's.
    const [device] = await server.server.db.query<{ identity_key: Uint8Array; signature_key: Uint8Array }>('SELECT identity_key, signature_key FROM devices WHERE id = $1', [result.senderDeviceId]);
    for (const [label, published] of [['parley-gateway-identity', device!.identity_key], ['parley-gateway-mls', device!.signature_key]] as const) {
      const inToken = await Pkcs11Signer.open(token.uri(), { object: label });
      try {
        expect(inToken.publicKey).toEqual(new Uint8Array(published));
      } finally {
        await inToken.close();
      }
    }
    expect((await readdir(dataDir)).filter((f) => f.endsWith('.key'))).toEqual([]);
    expect(gateway.output()).not.toContain(token.pin);

    // Rotation: a new pair is generated in the token and the request filed; PGlite is one process
    // at a time, so the instance stops first and performs it when it starts again (with PostgreSQL
    // the running leader does it at once: gateway/test/sender-rotation.test.ts).
    await gateway.kill('SIGTERM');
    gateway = undefined;
    const rotated = await parley(['gateway', 'rotate-sender-keys', '--data-dir', dataDir, '--signer', token.uri(), '--json']);
    expect(rotated.code, rotated.stderr + rotated.stdout).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ filed: true });
    gateway = await spawnGateway(['--data-dir', dataDir, '--signer', token.uri(), '--port', '0', '--log-level', 'warn']);
    const publishedKeys = async () =>
      (await server.server.db.query<{ identity_key: Uint8Array; signature_key: Uint8Array }>('SELECT identity_key, signature_key FROM devices WHERE id = $1', [result.senderDeviceId]))[0]!;
    for (let i = 0; i < 300 && equalBytes(new Uint8Array((await publishedKeys()).identity_key), new Uint8Array(device!.identity_key)); i++) await new Promise((r) => setTimeout(r, 100));
    const after = await publishedKeys();
    expect(new Uint8Array(after.identity_key)).not.toEqual(new Uint8Array(device!.identity_key));
    // Messages still flow, signed in the token with the new keys, and the customer checks the commitment.
    const phone2 = await enrollCustomer(gateway, apiKey, 'c-hsm-2');
    const events2 = new EventLog(phone2);
    await phone2.connect();
    let rotatedId: string;
    try {
      const sent = await call(gateway, apiKey, 'POST', '/v1/messages', { to: 'c-hsm-2', class: 'alert', body: 'Card charged $13 (rotated keys)' });
      expect(sent.status).toBe(202);
      rotatedId = sent.body.id as string;
      const received = await events2.waitFor((e) => e.type === 'message' && e.messageId === rotatedId, 30_000);
      expect(received.type === 'message' && received.audit?.verified).toBe(true);
    } finally {
      await phone2.close();
    }
    // The new pair is in the token under the labels the gateway now records.
    await gateway.kill('SIGTERM');
    gateway = undefined;
    const gwDb = await openGatewayDatabase({ dataDir });
    const [row] = await gwDb.query<{ value: string }>("SELECT value FROM gateway_settings WHERE name = 'sender_key_labels'");
    await gwDb.close();
    const labels = JSON.parse(row!.value) as { identity: string; mls: string };
    expect(labels.identity).toMatch(/^parley-gateway-identity-/);
    for (const [label, published] of [[labels.identity, after.identity_key], [labels.mls, after.signature_key]] as const) {
      const inToken = await Pkcs11Signer.open(token.uri(), { object: label });
      try {
        expect(inToken.publicKey).toEqual(new Uint8Array(published));
      } finally {
        await inToken.close();
      }
    }
    // A restarted instance opens the pair the sender's record names: its evidence sessions sign with it.
    gateway = await spawnGateway(['--data-dir', dataDir, '--signer', token.uri(), '--port', '0', '--log-level', 'warn']);
    const evidence = await call(gateway, apiKey, 'GET', `/v1/messages/${rotatedId!}/evidence`);
    expect(evidence.status).toBe(200);
  }, 300_000);
});

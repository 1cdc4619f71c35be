/** SDK test fixture: a real server on loopback and helpers to enroll devices through the SDK. */
import type { EvidenceTrust } from '@parley/core/audit';
import { exportJWK, generateKeyPair } from 'jose';
import { Device, MemoryKeyStore, Sender, issueEnrollmentToken, type DeviceEvent, type KeyStore } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { api, startTestServer, ADMIN_TOKEN, type TestServer } from './server.js';

export { startTestServer, type TestServer };

/**
 * The keys an auditor pins for a running server's evidence: both logs' verifier keys and the
 * VRF key, as the server lists them now (a test's stand-in for keys obtained out of band).
 */
export async function serverTrust(url: string): Promise<EvidenceTrust> {
  const logs = (await (await fetch(`${url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  const keys = (await (await fetch(`${url}/v1/keys`)).json()) as { vrfPublicKey: string };
  return {
    auditLogKey: logs.logs.find((l) => l.name === 'audit')!.verifierKey,
    keyLogKey: logs.logs.find((l) => l.name === 'keys')!.verifierKey,
    vrfPublicKey: keys.vrfPublicKey,
  };
}

export interface Business {
  id: string;
  /** The business's enrollment signing key (kid `k1`). */
  privateKey: CryptoKey;
  issue(subject: string, kind: 'customer' | 'sender' | 'agent' | 'bot', extra?: { phone?: string; name?: string; reset?: boolean }): Promise<string>;
}

export async function createBusiness(url: string, id: string): Promise<Business> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const res = await api(url, 'POST', '/v1/admin/businesses', { id, name: id, enrollmentKeys: [{ kid: 'k1', jwk: await exportJWK(publicKey) }] }, ADMIN_TOKEN);
  if (res.status !== 201) throw new Error(`business ${res.status}`);
  return {
    id,
    privateKey,
    issue: (subject, kind, extra = {}) => issueEnrollmentToken(privateKey, 'k1', { businessId: id, subject, kind, ...extra }),
  };
}

export async function enroll(url: string, business: Business, subject: string, kind: 'customer' | 'sender' | 'agent' | 'bot', store: KeyStore = new MemoryKeyStore(), label?: string): Promise<Device> {
  return Device.enroll({
    serverUrl: url,
    enrollmentToken: await business.issue(subject, kind),
    store,
    keyPackageBatch: 5,
    recoveryDelayMs: 500,
    ...(label ? { label } : {}),
    ...nodeRuntime,
  });
}

/** The bank re-enrolls a customer who lost every device (a reset token): the old devices are revoked in the key log. */
export async function reenroll(url: string, business: Business, subject: string, store: KeyStore = new MemoryKeyStore()): Promise<Device> {
  return Device.enroll({ serverUrl: url, enrollmentToken: await business.issue(subject, 'customer', { reset: true }), store, keyPackageBatch: 3, recoveryDelayMs: 500, ...nodeRuntime });
}

/** Enrolls another device of an identity and has `approver` (an approved device of it) approve it by "scanning" its QR code. */
export async function enrollApproved(url: string, business: Business, subject: string, approver: Device, store: KeyStore = new MemoryKeyStore(), label?: string): Promise<Device> {
  const device = await enroll(url, business, subject, 'customer', store, label);
  await approver.keys.approveDevice(device.keys.approvalRequest().qr);
  return device;
}

export async function enrollSender(url: string, business: Business, store: KeyStore = new MemoryKeyStore()): Promise<Sender> {
  return Sender.enroll({ serverUrl: url, enrollmentToken: await business.issue('sender', 'sender', { name: 'Example Bank' }), store, keyPackageBatch: 5, ...nodeRuntime });
}

/** Collects events of a device; `waitFor` resolves when a matching event has arrived. */
export class EventLog {
  readonly events: DeviceEvent[] = [];
  private waiters: { match: (e: DeviceEvent) => boolean; resolve: (e: DeviceEvent) => void }[] = [];
  constructor(device: Device) {
    device.subscribe((e) => {
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }
  waitFor<T extends DeviceEvent>(match: (e: DeviceEvent) => e is T, timeoutMs?: number): Promise<T>;
  waitFor(match: (e: DeviceEvent) => boolean, timeoutMs?: number): Promise<DeviceEvent>;
  waitFor(match: (e: DeviceEvent) => boolean, timeoutMs = 10_000): Promise<DeviceEvent> {
    const found = this.events.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const seen = () => this.events.map((e) => ('code' in e && e.code ? `${e.type}(${String(e.code)})` : e.type)).join(', ') || 'none';
      const timer = setTimeout(() => reject(new Error(`timed out waiting for event; events seen: ${seen()}`)), timeoutMs);
      this.waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }
  messages(): Extract<DeviceEvent, { type: 'message' }>[] {
    return this.events.filter((e): e is Extract<DeviceEvent, { type: 'message' }> => e.type === 'message');
  }
}

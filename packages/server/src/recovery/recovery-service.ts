/**
 * Social recovery on the server (docs/social-recovery.md). The server stores and relays
 * ciphertext and signatures; it checks who may do what, and the signatures it can check with
 * the devices' registered identity keys (the SDK checks them again against the verified key
 * log, so nothing here is trusted by the devices):
 * - a device publishes its own holder key (signed by its identity key);
 * - a device stores its own identity's set, signed by itself, naming active holder devices
 *   with holder keys, of identities it may see (the directory's visibility rules);
 * - only an active device of the owner identity opens a request for that identity's set
 *   (signed by itself, at most 24 h, rate-limited per identity);
 * - a request is seen by the owner identity's devices and the holders of its set; its
 *   released shares only by the requesting device; a holder answers once, with its own share.
 * Anything a device may not see is answered like something that does not exist.
 */
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  RateLimitedError,
  RECOVERY_MAX_HOLDERS,
  RECOVERY_REQUEST_TTL_MS,
  fromBase64,
  recoveryHolderKeyMessage,
  recoveryRequestMessage,
  recoverySetMessage,
  toBase64Url,
  verifyEd25519,
  type RecoveryHolderKey,
  type RecoveryHolderKeyList,
  type RecoveryHolderKeyPut,
  type RecoveryRequestCreate,
  type RecoveryRequestView,
  type RecoverySet,
  type RecoverySetPut,
} from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import { canSeeIdentity, visibleIdentities } from '../directory/visibility.js';
import { getDevice, getDevices, type DeviceRow } from '../repos/devices.js';
import { takeToken } from '../repos/rate-limits.js';
import * as repo from '../repos/recovery.js';
import type { Database, Sql } from '../storage/database.js';

/** Requests per identity: a burst of as many, refilled over a day. */
const REQUESTS_PER_DAY = 5;
/** Clock skew allowed on a request's expiry. */
const SKEW_MS = 5 * 60 * 1000;

const invalidSet = (why: string) => new InvalidInputError(`recovery set: ${why}`, { code: 'invalid_recovery_set' });
const invalidRequest = (why: string) => new InvalidInputError(`recovery request: ${why}`, { code: 'invalid_recovery_request' });
const unknownRequest = () => new NotFoundError('unknown_recovery_request', 'no such recovery request');

async function activeDevice(sql: Sql, me: AuthDevice): Promise<DeviceRow> {
  const device = await getDevice(sql, me.deviceId);
  if (!device || device.status !== 'active') throw new ForbiddenError('device_not_active', 'only an approved, active device can do this');
  return device;
}

function holderKeyView(row: repo.HolderKeyRow): RecoveryHolderKey {
  return { deviceId: row.device_id, hpkeKey: toBase64Url(row.hpke_key), signature: toBase64Url(row.signature), updatedAt: new Date(row.updated_at).toISOString() };
}

function setView(row: repo.RecoverySetRow): RecoverySet {
  return { manifest: JSON.parse(row.manifest) as RecoverySet['manifest'], signature: toBase64Url(row.signature), createdAt: new Date(row.created_at).toISOString() };
}

export class RecoveryService {
  constructor(private readonly db: Database) {}

  async putHolderKey(me: AuthDevice, body: RecoveryHolderKeyPut): Promise<RecoveryHolderKey> {
    const device = await activeDevice(this.db, me);
    const message = recoveryHolderKeyMessage({ identityId: me.identityId, deviceId: me.deviceId, hpkeKey: body.hpkeKey });
    const signature = fromBase64(body.signature, 'signature');
    if (!verifyEd25519(new Uint8Array(device.identity_key), message, signature)) {
      throw new InvalidInputError("the holder key is not signed by this device's identity key", { code: 'invalid_recovery_holder_key' });
    }
    return holderKeyView(await repo.upsertHolderKey(this.db, me.deviceId, fromBase64(body.hpkeKey, 'hpkeKey'), signature));
  }

  async holderKeys(me: AuthDevice, identityId: string): Promise<RecoveryHolderKeyList> {
    if (!(await canSeeIdentity(this.db, me, identityId))) throw new NotFoundError('unknown_identity', 'no such identity');
    return { identityId, keys: (await repo.holderKeysOf(this.db, identityId)).map(holderKeyView) };
  }

  async putSet(me: AuthDevice, body: RecoverySetPut): Promise<RecoverySet> {
    const device = await activeDevice(this.db, me);
    const { manifest } = body;
    if (manifest.identityId !== me.identityId || manifest.deviceId !== me.deviceId) throw invalidSet("names another identity or device than the caller's");
    if (!verifyEd25519(new Uint8Array(device.identity_key), recoverySetMessage(manifest), fromBase64(body.signature, 'signature'))) {
      throw invalidSet("the manifest is not signed by this device's identity key");
    }
    // Shares 1..n, one hash each, n ≤ 10, threshold ≤ n; each holder device once, not the caller.
    const hashes = new Map<number, string>();
    const entries = new Map<string, (typeof manifest.shares)[number]>();
    for (const s of manifest.shares) {
      if ((hashes.get(s.index) ?? s.shareHash) !== s.shareHash) throw invalidSet(`share ${s.index} has two hashes`);
      hashes.set(s.index, s.shareHash);
      if (entries.has(s.deviceId) || s.deviceId === me.deviceId) throw invalidSet(`device ${s.deviceId} cannot hold this share`);
      entries.set(s.deviceId, s);
    }
    if ([...hashes.keys()].some((i) => i > hashes.size) || hashes.size > RECOVERY_MAX_HOLDERS || manifest.threshold > hashes.size) {
      throw invalidSet(`needs shares 1..n with 2 ≤ threshold ≤ n ≤ ${RECOVERY_MAX_HOLDERS}`);
    }
    if (body.sealed.length !== entries.size || !body.sealed.every((s) => entries.get(s.deviceId)?.index === s.index) || new Set(body.sealed.map((s) => s.deviceId)).size !== entries.size) {
      throw invalidSet('needs exactly one sealed share per manifest entry');
    }
    // Holders: active devices of the identities the manifest names, with a holder key, that this device may see.
    const holders = await getDevices(this.db, [...entries.keys()]);
    const withKeys = new Set((await this.db.query<{ device_id: string }>('SELECT device_id FROM recovery_holder_keys WHERE device_id = ANY($1::text[])', [[...entries.keys()]])).map((r) => r.device_id));
    const visible = await visibleIdentities(this.db, me, [...new Set(manifest.shares.map((s) => s.identityId))]);
    for (const entry of entries.values()) {
      const holder = holders.find((d) => d.id === entry.deviceId);
      if (!holder || holder.status !== 'active' || holder.identity_id !== entry.identityId || !visible.has(entry.identityId) || !withKeys.has(entry.deviceId)) {
        throw invalidSet(`holder ${entry.identityId}/${entry.deviceId} is unknown, inactive or has no holder key`);
      }
    }
    const row = await this.db.transaction(async (tx) => {
      // One writer per identity: replacing a set is atomic.
      await tx.query('SELECT id FROM identities WHERE id = $1 FOR UPDATE', [me.identityId]);
      return repo.replaceSet(tx, {
        setId: manifest.setId,
        identityId: me.identityId,
        deviceId: me.deviceId,
        threshold: manifest.threshold,
        manifest: JSON.stringify(manifest),
        signature: fromBase64(body.signature, 'signature'),
        shares: body.sealed.map((s) => ({ deviceId: s.deviceId, index: s.index, sealed: fromBase64(s.sealed, 'sealed') })),
      });
    });
    return setView(row);
  }

  async getSet(me: AuthDevice): Promise<RecoverySet> {
    const row = await repo.setOfIdentity(this.db, me.identityId);
    if (!row) throw new NotFoundError('unknown_recovery_set', 'this identity has no recovery set');
    return setView(row);
  }

  async createRequest(me: AuthDevice, body: RecoveryRequestCreate): Promise<RecoveryRequestView> {
    const device = await activeDevice(this.db, me);
    const binding = body.request;
    if (binding.identityId !== me.identityId || binding.deviceId !== me.deviceId) throw invalidRequest("names another identity or device than the caller's");
    const set = await repo.setOfIdentity(this.db, me.identityId);
    if (!set || set.set_id !== binding.setId) throw new NotFoundError('unknown_recovery_set', 'no such recovery set');
    const expiresAt = new Date(binding.expiresAt);
    const now = Date.now();
    if (!(expiresAt.getTime() > now) || expiresAt.getTime() > now + RECOVERY_REQUEST_TTL_MS + SKEW_MS) throw invalidRequest('expiresAt is in the past or more than 24 h ahead');
    if (!verifyEd25519(new Uint8Array(device.identity_key), recoveryRequestMessage(binding), fromBase64(body.signature, 'signature'))) {
      throw invalidRequest("the request is not signed by this device's identity key");
    }
    // Counted once the request is valid: only a device of the identity spends its budget.
    const take = await takeToken(this.db, `recovery-request:${me.identityId}`, REQUESTS_PER_DAY, REQUESTS_PER_DAY / 86_400);
    if (!take.allowed) throw new RateLimitedError('too many recovery requests for this identity; retry later', take.retryAfterMs);
    await repo.deleteExpiredRequests(this.db, me.identityId);
    const inserted = await repo.insertRequest(this.db, {
      requestId: binding.requestId,
      setId: binding.setId,
      identityId: me.identityId,
      deviceId: me.deviceId,
      binding: JSON.stringify(binding),
      signature: fromBase64(body.signature, 'signature'),
      expiresAt,
    });
    if (!inserted) throw new ConflictError('recovery_request_exists', 'a recovery request with this id exists');
    return this.getRequest(me, binding.requestId);
  }

  async listRequests(me: AuthDevice): Promise<RecoveryRequestView[]> {
    const rows = await repo.requestsVisibleTo(this.db, me);
    return Promise.all(rows.map((r) => this.view(me, r)));
  }

  async getRequest(me: AuthDevice, requestId: string): Promise<RecoveryRequestView> {
    const row = await repo.requestVisibleTo(this.db, requestId, me);
    if (!row) throw unknownRequest();
    return this.view(me, row);
  }

  /** A holder's answer: its share re-sealed to the requester (`sealed`), or a decline (`null`). */
  async answer(me: AuthDevice, requestId: string, sealed: string | null): Promise<RecoveryRequestView> {
    const row = await repo.requestVisibleTo(this.db, requestId, me);
    const share = row && (await repo.shareOf(this.db, row.set_id, me.deviceId));
    // Not a holder of this set's shares: as if the request did not exist.
    if (!row || !share) throw unknownRequest();
    if (!(new Date(row.expires_at).getTime() > Date.now())) throw new ConflictError('recovery_request_expired', 'the recovery request has expired');
    const inserted = await repo.insertAnswer(this.db, {
      requestId,
      deviceId: me.deviceId,
      index: share.share_index,
      decision: sealed === null ? 'declined' : 'released',
      sealed: sealed === null ? null : fromBase64(sealed, 'sealed'),
    });
    if (!inserted) throw new ConflictError('recovery_already_answered', 'this device has already answered this request');
    return this.view(me, row);
  }

  private async view(me: AuthDevice, row: repo.RecoveryRequestRow): Promise<RecoveryRequestView> {
    const [answers, mine] = await Promise.all([repo.answersOf(this.db, row.request_id), repo.shareOf(this.db, row.set_id, me.deviceId)]);
    const released = answers.filter((a) => a.decision === 'released' && a.sealed !== null);
    const view: RecoveryRequestView = {
      request: JSON.parse(row.binding) as RecoveryRequestView['request'],
      signature: toBase64Url(row.signature),
      status: new Date(row.expires_at).getTime() > Date.now() ? 'pending' : 'expired',
      threshold: Number(row.threshold),
      released: new Set(released.map((a) => a.share_index)).size,
      declined: answers.filter((a) => a.decision === 'declined').length,
      createdAt: new Date(row.created_at).toISOString(),
    };
    if (mine) {
      view.share = { index: Number(mine.share_index), sealed: toBase64Url(mine.sealed) };
      const answer = answers.find((a) => a.holder_device_id === me.deviceId);
      if (answer) view.decision = answer.decision;
    }
    // Released shares go to the requesting device only (sealed to its ephemeral key in any case).
    if (row.device_id === me.deviceId) view.releasedShares = released.map((a) => ({ index: Number(a.share_index), deviceId: a.holder_device_id, sealed: toBase64Url(a.sealed!) }));
    return view;
  }
}

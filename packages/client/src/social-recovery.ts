/**
 * Social recovery of the backup recovery key (`device.recovery`, docs/social-recovery.md): the
 * key is split k-of-n (Shamir) among the owner's other devices and trusted contacts, each share
 * sealed (HPKE, RFC 9180) to its holder's device; a new device of the owner asks, and each holder
 * releases its share only when the person confirms on their device — re-sealed to the asking
 * device's ephemeral key, which its identity key signed. The server relays ciphertext only.
 */
import {
  fromBase64,
  keyFingerprint,
  recoveryConfirmationCode,
  recoveryHolderKeyMessage,
  recoveryReleaseContext,
  recoveryRequestMessage,
  recoveryShareContext,
  signWith,
  toBase64Url,
  verifyEd25519,
  RECOVERY_REQUEST_TTL_MS,
  type Ed25519Signer,
  type RecoveryRequestView,
} from '@parley/core';
import { generateHpkeKeyPair, hpkeOpen, hpkeSeal } from '@parley/core/escrow';
import type { DeviceKeyState } from '@parley/core/keylog';
import type { ApiClient } from './api-client.js';
import type { DeviceKeys } from './device-keys.js';
import { ApiError } from './errors.js';
import type { KeyStore } from './key-store.js';
import { getJson, putJson } from './records.js';
import { RecoveryApi } from './recovery-api.js';
import { RecoveryError } from './recovery-error.js';
import { buildRecoverySet, checkThreshold, resolveHolders, type RecoveryHolder } from './recovery-holders.js';
import { completeRequest, requestProgress, startRequest, type RecoveryProgress, type RecoveryRequestStarted, type RequesterContext } from './recovery-requester.js';

/**
 * What `split` stored: the set, its threshold and which devices hold each share.
 *
 * @example
 * const { setId, threshold, holders } = await phone.recovery.split({ recoveryKey, threshold: 3, holders })
 */
export interface RecoverySetSummary {
  readonly setId: string;
  readonly threshold: number;
  readonly holders: readonly { readonly index: number; readonly identityId: string; readonly deviceIds: readonly string[] }[];
}

/**
 * What `split` needs: the recovery key, the threshold and the holders (2 ≤ threshold ≤ holders ≤ 10).
 *
 * @example
 * const options: RecoverySplitOptions = { recoveryKey, threshold: 2, holders: [{ identityId: me, deviceId: tabletId }, { identityId: 'acme:c-2002' }], verifiedContactsOnly: true }
 */
export interface RecoverySplitOptions {
  readonly recoveryKey: string;
  readonly threshold: number;
  readonly holders: readonly RecoveryHolder[];
  /**
   * Refuse contacts (holders of other identities) whose keys the owner has not verified by QR, or that changed since
   * (`recovery_holder_unverified`): a key-log device the server forged for a contact then gets no share.
   */
  readonly verifiedContactsOnly?: boolean;
}

/**
 * A request a holder is asked to confirm. Show who asks, and compare `code` with the digits the
 * person reads out to you (on a call, in person) before `approve`.
 *
 * @example
 * for (const r of await friend.recovery.pendingRequests()) if (r.verified) show(r.identityId, r.code)
 */
export interface PendingRecoveryRequest {
  readonly requestId: string;
  /** The identity whose recovery key is asked for. */
  readonly identityId: string;
  readonly requesterDeviceId: string;
  /** Short fingerprint of the requesting device's identity key (from the verified key log). */
  readonly requesterFingerprint: string | undefined;
  /** Who approved the requesting device in the key log: one of the owner's devices, or the business (enrollment, reset). */
  readonly approvedBy: 'owner-device' | 'enrollment' | undefined;
  /** Ten digits the requesting device shows for this request. */
  readonly code: string | undefined;
  readonly expiresAt: string;
  /** False when the request is not signed by an approved device of that identity (never approve it). */
  readonly verified: boolean;
}

/** @internal What `device.recovery` uses. */
export interface RecoveryContext {
  readonly api: ApiClient;
  readonly store: KeyStore;
  readonly identity: Ed25519Signer;
  readonly record: { readonly identityId: string; readonly deviceId: string };
  /** The verified key log and the owner's QR verifications. */
  readonly keys: Pick<DeviceKeys, 'devicesOf' | 'verificationState'>;
  now(): Date;
}

interface HolderKeyRecordV1 {
  v: 1;
  privateKey: string;
  publicKey: string;
}
const HOLDER_KEY = 'recovery/holder-key';
/** Clock skew allowed on a request's expiry. */
const SKEW_MS = 5 * 60 * 1000;

/**
 * Social recovery of the backup recovery key (`device.recovery`).
 *
 * @example
 * await tablet.recovery.enableHolding(); await friend.recovery.enableHolding()
 * await phone.recovery.split({ recoveryKey, threshold: 2, holders: [{ identityId: phone.identityId, deviceId: tablet.deviceId }, { identityId: friendId }] })
 * // the phone is lost; on the new one:
 * const { requestId, code } = await newPhone.recovery.request()
 * // each holder, after the person read out `code`: await friend.recovery.approve(requestId, code)
 * await newPhone.backups.restore({ recoveryKey: await newPhone.recovery.complete(requestId) })
 */
export class DeviceRecovery {
  private readonly rapi: RecoveryApi;

  constructor(private readonly ctx: RecoveryContext) {
    this.rapi = new RecoveryApi(ctx.api);
  }

  private get requester(): RequesterContext {
    const { store, identity, record, now } = this.ctx;
    return { api: this.rapi, store, identity, self: record, devicesOf: (id) => this.ctx.keys.devicesOf(id), now };
  }

  /**
   * Lets this device hold shares: makes its X25519 holder key once (kept in the KeyStore) and publishes it signed by the
   * device's identity key. Call it again after a key rotation (it re-signs).
   *
   * @example
   * const { hpkeKey } = await friend.recovery.enableHolding()
   */
  async enableHolding(): Promise<{ hpkeKey: string }> {
    let key = await getJson<HolderKeyRecordV1>(this.ctx.store, HOLDER_KEY);
    if (!key) {
      const pair = await generateHpkeKeyPair();
      key = { v: 1, privateKey: toBase64Url(pair.privateKey), publicKey: toBase64Url(pair.publicKey) };
      pair.privateKey.fill(0);
      await this.ctx.store.write([putJson(HOLDER_KEY, key)]);
    }
    const { identityId, deviceId } = this.ctx.record;
    const signature = await signWith(this.ctx.identity, recoveryHolderKeyMessage({ identityId, deviceId, hpkeKey: key.publicKey }));
    await this.rapi.putHolderKey({ hpkeKey: key.publicKey, signature: toBase64Url(signature) });
    return { hpkeKey: key.publicKey };
  }

  /**
   * Splits the recovery key `threshold`-of-holders and stores the set (replacing this identity's previous one). Each
   * holder key is checked against the verified key log first (`recovery_holder_unverified` for a substituted one);
   * with `verifiedContactsOnly`, every contact must also be verified by QR (`keys.verificationState`).
   *
   * @example
   * await phone.recovery.split({ recoveryKey, threshold: 3, holders: [{ identityId: me, deviceId: tabletId }, { identityId: me, deviceId: laptopId }, { identityId: 'acme:c-2002' }, { identityId: 'acme:c-3003' }] })
   */
  async split(options: RecoverySplitOptions): Promise<RecoverySetSummary> {
    checkThreshold(options.threshold, options.holders.length);
    const self = this.ctx.record;
    const { keys } = this.ctx;
    const context = { api: this.rapi, self, devicesOf: (id: string) => keys.devicesOf(id), verificationState: (id: string) => keys.verificationState(id) };
    const holders = await resolveHolders(context, options.holders, options.verifiedContactsOnly === true);
    const body = await buildRecoverySet({ ...self, identity: this.ctx.identity, now: this.ctx.now() }, options.recoveryKey, options.threshold, holders);
    await this.rapi.putSet(body);
    return {
      setId: body.manifest.setId,
      threshold: body.manifest.threshold,
      holders: holders.map((devices, i) => ({ index: i + 1, identityId: devices[0]!.identityId, deviceIds: devices.map((d) => d.deviceId) })),
    };
  }

  /**
   * On a device of the owner (a new phone, enrolled and approved): asks the holders for their shares. Read `code` out to each holder.
   *
   * @example
   * const { requestId, code, threshold } = await newPhone.recovery.request()
   */
  request(): Promise<RecoveryRequestStarted> {
    return startRequest(this.requester);
  }

  /**
   * How many shares have been released and checked so far.
   *
   * @example
   * const { valid, threshold } = await newPhone.recovery.collect(requestId)
   */
  collect(requestId: string): Promise<RecoveryProgress> {
    return requestProgress(this.requester, requestId);
  }

  /**
   * Combines the released shares into the recovery key (`recovery_not_enough_shares` below the threshold).
   *
   * @example
   * const recoveryKey = await newPhone.recovery.complete(requestId)
   * await newPhone.backups.restore({ recoveryKey })
   */
  complete(requestId: string): Promise<string> {
    return completeRequest(this.requester, requestId);
  }

  /**
   * Requests for shares this device holds, not yet answered by it.
   *
   * @example
   * const waiting = await friend.recovery.pendingRequests()
   */
  async pendingRequests(): Promise<PendingRecoveryRequest[]> {
    const { requests } = await this.rapi.listRequests();
    const open = requests.filter((r) => r.share !== undefined && r.decision === undefined && r.status === 'pending');
    return Promise.all(open.map((r) => this.describe(r)));
  }

  /**
   * Releases this device's share to the asking device, after the person confirmed (pass the `code` they read out to
   * have it compared). Refuses a request not signed by an approved device of the owner (`recovery_requester_unverified`).
   *
   * @example
   * await friend.recovery.approve(requestId, '30517 88214')
   */
  async approve(requestId: string, code?: string): Promise<void> {
    const view = await this.rapi.getRequest(requestId);
    if (!view.share || view.decision !== undefined) throw new RecoveryError('recovery_request_unknown', 'this device holds no share to release for this request');
    const requester = await this.verifyRequester(view);
    const binding = view.request;
    if (code !== undefined && code.replace(/\s/g, '') !== recoveryConfirmationCode(binding, requester.identityKey).replace(' ', '')) {
      throw new RecoveryError('recovery_requester_unverified', 'the code does not match this request');
    }
    const key = await getJson<HolderKeyRecordV1>(this.ctx.store, HOLDER_KEY);
    if (!key) throw new RecoveryError('recovery_request_unknown', 'this device has no holder key');
    const me = this.ctx.record.deviceId;
    const { index } = view.share;
    const privateKey = fromBase64(key.privateKey);
    let share: Uint8Array;
    try {
      const { info, aad } = recoveryShareContext({ setId: binding.setId, identityId: binding.identityId, index, holderDeviceId: me });
      share = await hpkeOpen(privateKey, info, aad, fromBase64(view.share.sealed));
    } catch (cause) {
      throw new RecoveryError('recovery_share_invalid', 'this device’s share does not open for this request', { cause });
    } finally {
      privateKey.fill(0);
    }
    try {
      const { info, aad } = recoveryReleaseContext(binding, index, me);
      const sealed = await hpkeSeal(fromBase64(binding.requesterKey), info, aad, share);
      await this.rapi.release(requestId, toBase64Url(sealed));
    } finally {
      share.fill(0);
    }
  }

  /**
   * Declines to release this device's share.
   *
   * @example
   * await friend.recovery.decline(requestId)
   */
  async decline(requestId: string): Promise<void> {
    await this.rapi.decline(requestId);
  }

  /** The requesting device from the owner's verified key log: approved, and its identity key signed the request; not expired. */
  private async verifyRequester(view: RecoveryRequestView): Promise<DeviceKeyState> {
    const binding = view.request;
    const now = this.ctx.now().getTime();
    const expires = Date.parse(binding.expiresAt);
    if (!(expires > now) || expires > now + RECOVERY_REQUEST_TTL_MS + SKEW_MS) throw new RecoveryError('recovery_requester_unverified', 'the request has expired, or claims too long a lifetime');
    const logged = await this.ctx.keys.devicesOf(binding.identityId).catch((error: unknown) => {
      // The owner's keys are not visible to this device (no shared conversation): nothing to verify the request against.
      if (error instanceof ApiError && error.status === 404) throw new RecoveryError('recovery_requester_unverified', "this device cannot look up the owner's keys", { cause: error });
      throw error;
    });
    const device = logged.find((d) => d.deviceId === binding.deviceId && d.status === 'approved');
    if (!device || !verifyEd25519(device.identityKey, recoveryRequestMessage(binding), fromBase64(view.signature))) {
      throw new RecoveryError('recovery_requester_unverified', 'the request is not signed by an approved device of that identity', {
        details: { identityId: binding.identityId, deviceId: binding.deviceId },
      });
    }
    return device;
  }

  private async describe(view: RecoveryRequestView): Promise<PendingRecoveryRequest> {
    const binding = view.request;
    const base = { requestId: binding.requestId, identityId: binding.identityId, requesterDeviceId: binding.deviceId, expiresAt: binding.expiresAt };
    try {
      const device = await this.verifyRequester(view);
      return {
        ...base,
        requesterFingerprint: keyFingerprint(device.identityKey),
        approvedBy: device.approvedBy === undefined ? 'enrollment' : 'owner-device',
        code: recoveryConfirmationCode(binding, device.identityKey),
        verified: true,
      };
    } catch {
      return { ...base, requesterFingerprint: undefined, approvedBy: undefined, code: undefined, verified: false };
    }
  }
}

/**
 * HTTP client for the Parley API. Every response is validated against the
 * shared wire schema before use: a malicious or broken server gets a typed
 * error, not a crash deeper in the SDK.
 */
import { Compile, type Static, type TSchema } from '@parley/core/typebox';
import {
  AckResponseSchema, ChallengeResponseSchema, ClaimKeyPackagesResponseSchema, DeviceRecordSchema, ErrorBodySchema,
  GroupInfoResponseSchema, IdentityDevicesResponseSchema, KeyPackageStockSchema, MailboxResponseSchema,
  RegisterDeviceResponseSchema, SessionResponseSchema, SubmitResponseSchema, KeyDirectoryInfoSchema,
  KeyLookupResponseSchema, KeyLogChangeResponseSchema, ReceiptResponseSchema, EscrowPolicyResponseSchema,
} from '@parley/core';
import type {
  AckResponse, ClaimKeyPackagesResponse, DeviceRecord, GroupInfoResponse, IdentityDevicesResponse, KeyPackageStock,
  MailboxResponse, RegisterDeviceRequest, RegisterDeviceResponse, SessionRequest, SessionResponse, ChallengeResponse,
  SubmitRequest, SubmitResponse, UploadKeyPackagesRequest, RotateDeviceKeysRequest, KeyDirectoryInfo, KeyLookupResponse,
  KeyLogChangeResponse, ReceiptRequest, ReceiptResponse, EscrowPolicyResponse,
} from '@parley/core';
import { EvidenceBundleSchema, type EvidenceBundle } from '@parley/core/audit';
// The routing and web-link part of the wire contract.
import { OkResponseSchema, ProofResponseSchema, RetrieveResponseSchema, RouteViewSchema, RouteStatusResponseSchema, WebMessageResponseSchema, WebHandoffResponseSchema } from '@parley/core';
import type { WebHandoffRequest, WebHandoffResponse, PushRegistration, RouteStatusResponse, RetrieveResponse, RouteViewResponse, WebMessageRequest, WebMessageResponse } from '@parley/core';
import { AnnounceSuitesResponseSchema, type AnnounceSuitesRequest, type AnnounceSuitesResponse } from '@parley/core';
import { ApiError, TransportError } from './errors.js';

const validators = new Map<TSchema, ReturnType<typeof Compile>>();
function validator(schema: TSchema) {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = Compile(schema)));
  return v;
}
const errorBody = Compile(ErrorBodySchema);

/**
 * Options of `ApiClient`.
 *
 * @example
 * const api = new ApiClient({ serverUrl: 'https://parley.example', timeoutMs: 5_000 } satisfies ApiClientOptions)
 */
export interface ApiClientOptions {
  /** Base URL of a Parley server, e.g. `https://parley.example.com`. */
  readonly serverUrl: string;
  /** Request timeout in milliseconds (default 15 s). */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** Supplies a valid session token; `refresh` forces a new one. */
export type SessionProvider = (refresh: boolean) => Promise<string>;

/**
 * The Parley HTTP API, every response checked against the wire schema. A device's own is `device.api` (with its
 * session); apps use the `Device` methods, and a bare client serves unauthenticated calls and tools.
 *
 * @example
 * const info = await new ApiClient({ serverUrl: 'https://parley.example' }).keyDirectoryInfo()
 * const { state } = await sender.device.api.route(messageId)
 */
export class ApiClient {
  readonly serverUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private session: SessionProvider | undefined;

  constructor(options: ApiClientOptions) {
    this.serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * Installs the session provider used by authenticated calls (a `Device` installs its own).
   *
   * @example
   * api.useSession(async (refresh) => (refresh ? await newToken() : cachedToken))
   */
  useSession(provider: SessionProvider): void {
    this.session = provider;
  }

  private async request<S extends TSchema>(method: string, path: string, schema: S, body: unknown, auth: boolean): Promise<Static<S>> {
    const init = body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await this.send(method, path, init, auth);
    let json: unknown;
    try {
      json = await res.json();
    } catch (cause) {
      throw new TransportError(`server answered ${res.status} without JSON`, { cause });
    }
    if (!validator(schema).Check(json)) throw new TransportError(`server response to ${method} ${path} does not match the API schema`);
    return json as Static<S>;
  }

  /**
   * One call (with the session when `auth`, renewed once if it expired); a non-2xx answer
   * becomes an `ApiError` with the server's code. The caller reads the body. `init.signal`
   * replaces the default timeout: the caller's own deadline and cancellation (a streamed blob).
   *
   * @example
   * const res = await api.send('GET', '/v1/backups/latest', { headers: { 'parley-backup-key': key } }, true)
   */
  async send(method: string, path: string, init: { headers?: Record<string, string>; body?: string | Uint8Array; signal?: AbortSignal }, auth: boolean): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      if (auth) {
        if (!this.session) throw new ApiError(401, 'session_required', 'no session provider');
        headers['authorization'] = `Bearer ${await this.session(attempt > 0)}`;
      }
      let res: Response;
      try {
        res = await this.fetchImpl(this.serverUrl + path, {
          method,
          headers,
          ...(init.body !== undefined ? { body: init.body as BodyInit } : {}),
          signal: init.signal ?? AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        throw new TransportError(`cannot reach ${this.serverUrl}`, { cause });
      }
      if (res.ok) return res;
      let json: unknown;
      try {
        json = await res.json();
      } catch (cause) {
        throw new TransportError(`server answered ${res.status} without JSON`, { cause });
      }
      if (!errorBody.Check(json)) throw new TransportError(`server answered ${res.status} with an unknown error body`);
      const { code, message, details } = json.error;
      // A revoked device's session is refused when renewed, with the notice its device verifies (revocation.ts).
      if (auth && res.status === 401 && attempt === 0 && (code === 'session_expired' || code === 'session_invalid' || code === 'device_revoked')) continue;
      const retryAfter = res.headers.get('retry-after');
      throw new ApiError(res.status, code, message, { ...(details ?? {}), ...(retryAfter ? { retryAfterMs: Number(retryAfter) * 1000 } : {}) });
    }
  }


  /**
   * `POST /v1/devices`: registers an enrolling device's public keys (what `Device.enroll` sends).
   *
   * @example
   * const { deviceId, status } = await api.registerDevice(registration) // status: 'active' | 'pending'
   */
  registerDevice(body: RegisterDeviceRequest): Promise<RegisterDeviceResponse> {
    return this.request('POST', '/v1/devices', RegisterDeviceResponseSchema, body, false);
  }

  /**
   * `POST /v1/auth/challenge`: a one-time challenge for the device to sign (60 s).
   *
   * @example
   * const { challenge } = await api.challenge(deviceId)
   */
  challenge(deviceId: string): Promise<ChallengeResponse> {
    return this.request('POST', '/v1/auth/challenge', ChallengeResponseSchema, { deviceId }, false);
  }

  /**
   * `POST /v1/auth/session`: trades the signed challenge for a session token.
   *
   * @example
   * const { token, expiresAt } = await api.openSession({ deviceId, challenge, signature })
   */
  openSession(body: SessionRequest): Promise<SessionResponse> {
    return this.request('POST', '/v1/auth/session', SessionResponseSchema, body, false);
  }

  /**
   * The server's list of an identity's devices (unverified: `Device.activeDevices` checks the key log).
   *
   * @example
   * const { devices } = await phone.api.identityDevices('acme:c-1001')
   */
  identityDevices(identityId: string): Promise<IdentityDevicesResponse> {
    return this.request('GET', `/v1/identities/${encodeURIComponent(identityId)}/devices`, IdentityDevicesResponseSchema, undefined, true);
  }

  /**
   * One device's record as the server stores it.
   *
   * @example
   * const { status, label } = await phone.api.device(phone.deviceId)
   */
  device(deviceId: string): Promise<DeviceRecord> {
    return this.request('GET', `/v1/devices/${encodeURIComponent(deviceId)}`, DeviceRecordSchema, undefined, true);
  }

  /**
   * Uploads KeyPackages (what `Device.replenishKeyPackages` does); returns the new stock.
   *
   * @example
   * const { oneTime, low } = await phone.api.uploadKeyPackages({ keyPackages })
   */
  uploadKeyPackages(body: UploadKeyPackagesRequest): Promise<KeyPackageStock> {
    return this.request('POST', '/v1/key-packages', KeyPackageStockSchema, body, true);
  }

  /**
   * This device's KeyPackage stock on the server.
   *
   * @example
   * const { oneTime, low } = await phone.api.keyPackageStock()
   * if (low) await phone.replenishKeyPackages(true)
   */
  keyPackageStock(suite?: string): Promise<KeyPackageStock> {
    const query = suite === undefined ? '' : `?suite=${encodeURIComponent(suite)}`;
    return this.request('GET', `/v1/key-packages/stock${query}`, KeyPackageStockSchema, undefined, true);
  }

  /**
   * States the suites this device supports, signed, with KeyPackages of the new ones (what
   * maintenance does after an app update brought a suite; docs/post-quantum.md).
   *
   * @example
   * const { keyLog } = await phone.api.announceSuites({ suites, seq, signature, keyPackages, lastResortKeyPackages })
   */
  announceSuites(body: AnnounceSuitesRequest): Promise<AnnounceSuitesResponse> {
    return this.request('POST', '/v1/devices/me/suites', AnnounceSuitesResponseSchema, body, true);
  }

  /**
   * Claims one KeyPackage per device, to add the devices to a group (what `Device.addMembers` does).
   *
   * @example
   * const { keyPackages } = await agent.api.claimKeyPackages(deviceIds)
   */
  claimKeyPackages(deviceIds: readonly string[], suite?: string): Promise<ClaimKeyPackagesResponse> {
    return this.request('POST', '/v1/key-packages/claim', ClaimKeyPackagesResponseSchema, { deviceIds, ...(suite === undefined ? {} : { suite }) }, true);
  }

  /**
   * `POST /v1/messages`: submits an MLS message or commit (what `Device.send` does, after persisting it).
   *
   * @example
   * const { id, duplicate, recipients } = await phone.api.submit(request)
   */
  submit(body: SubmitRequest): Promise<SubmitResponse> {
    return this.request('POST', '/v1/messages', SubmitResponseSchema, body, true);
  }

  /**
   * Pending envelopes with ids above `after` (a paging cursor), oldest first.
   *
   * @example
   * const { envelopes, more } = await phone.api.mailbox(50)
   */
  mailbox(limit = 100, after = '0'): Promise<MailboxResponse> {
    return this.request('GET', `/v1/mailbox?limit=${limit}&after=${encodeURIComponent(after)}`, MailboxResponseSchema, undefined, true);
  }

  /**
   * Acknowledges envelopes by id (the device does this once their effect is persisted).
   *
   * @example
   * const { acked, unknown } = await phone.api.ack(envelopes.map((e) => e.id))
   */
  ack(ids: readonly string[]): Promise<AckResponse> {
    return this.request('POST', '/v1/mailbox/ack', AckResponseSchema, { ids }, true);
  }

  /**
   * `POST /v1/receipts`: a signed receipt (what `Device.markRead` and delivery send).
   *
   * @example
   * const { index, duplicate } = await phone.api.postReceipt(signedReceipt)
   */
  postReceipt(body: ReceiptRequest): Promise<ReceiptResponse> {
    return this.request('POST', '/v1/receipts', ReceiptResponseSchema, body, true);
  }

  /**
   * The evidence bundle of a business message (for its sender's or recipient's devices).
   *
   * @example
   * const bundle = await phone.api.evidence(messageId) // `Device.exportEvidence` adds the opening on request
   */
  evidence(messageId: string): Promise<EvidenceBundle> {
    return this.request('GET', `/v1/audit/messages/${encodeURIComponent(messageId)}/evidence`, EvidenceBundleSchema, undefined, true);
  }

  /**
   * Registers (or, with undefined, forgets) this device's push token.
   *
   * @example
   * await phone.api.setPushToken({ provider: 'apns', token: deviceToken })
   * await phone.api.setPushToken(undefined)
   */
  async setPushToken(registration: PushRegistration | undefined): Promise<void> {
    if (registration) await this.request('PUT', '/v1/devices/me/push', OkResponseSchema, registration, true);
    else await this.request('DELETE', '/v1/devices/me/push', OkResponseSchema, undefined, true);
  }

  /**
   * Redeems an app retrieval token (single use): the ciphertext it points at.
   *
   * @example
   * const { envelopes } = await phone.api.retrieve(token)
   * await phone.receive(envelopes)
   */
  retrieve(token: string): Promise<RetrieveResponse> {
    return this.request('POST', '/v1/retrieve', RetrieveResponseSchema, { token }, true);
  }

  /**
   * A message to a customer without the app (web retrieval link); `Sender.sendToWeb` seals the text and calls this.
   *
   * @example
   * const { path, state, delivery } = await sender.device.api.webMessage({ messageId, customerId: 'c-1001', phone: '+15550100123', class: 'alert', ciphertext })
   */
  webMessage(body: WebMessageRequest): Promise<WebMessageResponse> {
    return this.request('POST', '/v1/web-messages', WebMessageResponseSchema, body, true);
  }

  /**
   * Reports whether the sender's own SMS provider took a web link (`Sender.sendToWeb` calls this).
   *
   * @example
   * const { state } = await sender.device.api.webHandoff(messageId, { ok: true, provider: 'twilio', providerMessageId: 'SM123' })
   */
  webHandoff(messageId: string, body: WebHandoffRequest): Promise<WebHandoffResponse> {
    return this.request('POST', `/v1/web-messages/${encodeURIComponent(messageId)}/handoff`, WebHandoffResponseSchema, body, true);
  }

  /**
   * The calling sender's business's classes under escrow with their keys' public records (`Sender` verifies them).
   *
   * @example
   * const { classes } = await sender.device.api.escrowPolicy()
   */
  escrowPolicy(): Promise<EscrowPolicyResponse> {
    return this.request('GET', '/v1/escrow/policy', EscrowPolicyResponseSchema, undefined, true);
  }

  /**
   * Records a customer's consent to messages outside the app (`Sender.recordFallbackConsent`).
   *
   * @example
   * await sender.device.api.recordConsent('c-1001')
   */
  recordConsent(customerId: string): Promise<unknown> {
    return this.request('POST', '/v1/consents', OkResponseSchema, { customerId }, true);
  }

  /**
   * A message's route: state, delivery path, decisions (sending business only).
   *
   * @example
   * const { state, path, events } = await sender.device.api.route(messageId)
   */
  route(messageId: string): Promise<RouteViewResponse> {
    return this.request('GET', `/v1/routes/${encodeURIComponent(messageId)}`, RouteViewSchema, undefined, true);
  }

  /**
   * `POST /v1/routes/status`: the status of up to 100 messages of this sender's business (`Sender.routes`).
   *
   * @example
   * const { routes } = await sender.device.api.routeStatuses([messageId])
   */
  routeStatuses(messageIds: readonly string[]): Promise<RouteStatusResponse> {
    return this.request('POST', '/v1/routes/status', RouteStatusResponseSchema, { messageIds }, true);
  }

  /**
   * The key directory's public keys and log name (unauthenticated; pin them in the app).
   *
   * @example
   * const { log, origin, verifierKey, vrfPublicKey } = await new ApiClient({ serverUrl }).keyDirectoryInfo()
   */
  keyDirectoryInfo(): Promise<KeyDirectoryInfo> {
    return this.request('GET', '/v1/keys', KeyDirectoryInfoSchema, undefined, false);
  }

  /**
   * An identity's key-log entries with proofs, unverified (`KeyLogVerifier.lookup` verifies them).
   *
   * @example
   * const { label, checkpoint, entries } = await phone.api.keyLookup('acme:c-1001')
   */
  keyLookup(identityId: string): Promise<KeyLookupResponse> {
    return this.request('GET', `/v1/keys/${encodeURIComponent(identityId)}`, KeyLookupResponseSchema, undefined, true);
  }

  /**
   * Posts an approval signature for a pending device (`DeviceKeys.approveDevice` signs it).
   *
   * @example
   * const { index } = await phone.api.approveDevice(pendingDeviceId, approvalSignature)
   */
  approveDevice(deviceId: string, signature: string): Promise<KeyLogChangeResponse> {
    return this.request('POST', `/v1/devices/${encodeURIComponent(deviceId)}/approve`, KeyLogChangeResponseSchema, { signature }, true);
  }

  /**
   * Posts a revocation signature for a device (`DeviceKeys.revokeDevice` signs it).
   *
   * @example
   * const { index, status } = await phone.api.revokeDevice(lostDeviceId, revocationSignature)
   */
  revokeDevice(deviceId: string, signature: string): Promise<KeyLogChangeResponse> {
    return this.request('POST', `/v1/devices/${encodeURIComponent(deviceId)}/revoke`, KeyLogChangeResponseSchema, { signature }, true);
  }

  /**
   * Replaces this device's keys (`DeviceKeys.rotate` builds and signs the request).
   *
   * @example
   * const { index } = await phone.api.rotateKeys(phone.deviceId, signedRotation)
   */
  rotateKeys(deviceId: string, body: RotateDeviceKeysRequest): Promise<KeyLogChangeResponse> {
    return this.request('POST', `/v1/devices/${encodeURIComponent(deviceId)}/rotate-keys`, KeyLogChangeResponseSchema, body, true);
  }

  /**
   * RFC 9162 consistency proof between two tree sizes of a log (base64 hashes).
   *
   * @example
   * const { proof } = await api.consistencyProof('keys', 10, 42)
   */
  consistencyProof(log: string, from: number, to: number): Promise<{ proof: string[] }> {
    return this.request('GET', `/v1/logs/${encodeURIComponent(log)}/consistency?from=${from}&to=${to}`, ProofResponseSchema, undefined, false);
  }

  /**
   * Raw bytes of a tlog-tiles resource (`<prefix>/<path>`), e.g. a tile or entry bundle.
   *
   * @example
   * const note = new TextDecoder().decode(await api.fetchLogResource('/logs/keys', 'checkpoint'))
   */
  async fetchLogResource(prefix: string, path: string): Promise<Uint8Array> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.serverUrl}${prefix}/${path}`, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (cause) {
      throw new TransportError(`cannot reach ${this.serverUrl}`, { cause });
    }
    if (!res.ok) throw new ApiError(res.status, 'log_resource_unavailable', `${prefix}/${path} answered ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  /**
   * The conversation's latest GroupInfo, for a resync by external commit (the device does this itself).
   *
   * @example
   * const { epoch, groupInfo } = await phone.api.groupInfo(conversationId)
   */
  groupInfo(conversationId: string): Promise<GroupInfoResponse> {
    return this.request('GET', `/v1/conversations/${encodeURIComponent(conversationId)}/group-info`, GroupInfoResponseSchema, undefined, true);
  }
}

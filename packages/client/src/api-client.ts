/**
 * HTTP client for the Parley API. Every response is validated against the
 * shared wire schema before use: a malicious or broken server gets a typed
 * error, not a crash deeper in the SDK.
 */
import type { TSchema, Static } from 'typebox';
import { Compile } from 'typebox/compile';
import {
  AckResponseSchema,
  ChallengeResponseSchema,
  ClaimKeyPackagesResponseSchema,
  DeviceRecordSchema,
  ErrorBodySchema,
  GroupInfoResponseSchema,
  IdentityDevicesResponseSchema,
  KeyPackageStockSchema,
  MailboxResponseSchema,
  RegisterDeviceResponseSchema,
  SessionResponseSchema,
  SubmitResponseSchema,
  type AckResponse,
  type ClaimKeyPackagesResponse,
  type DeviceRecord,
  type GroupInfoResponse,
  type IdentityDevicesResponse,
  type KeyPackageStock,
  type MailboxResponse,
  type RegisterDeviceRequest,
  type RegisterDeviceResponse,
  type SessionRequest,
  type SessionResponse,
  type ChallengeResponse,
  type SubmitRequest,
  type SubmitResponse,
  type UploadKeyPackagesRequest,
  KeyDirectoryInfoSchema,
  KeyLookupResponseSchema,
  KeyLogChangeResponseSchema,
  type KeyDirectoryInfo,
  type KeyLookupResponse,
  type KeyLogChangeResponse,
  ReceiptResponseSchema,
  type ReceiptRequest,
  type ReceiptResponse,
} from '@parley/core';
import { EvidenceBundleSchema, type EvidenceBundle } from '@parley/core/audit';
import {
  OkResponseSchema,
  ProofResponseSchema,
  RetrieveResponseSchema,
  RouteViewSchema,
  WebMessageResponseSchema,
  type PushRegistration,
  type RetrieveResponse,
  type RouteViewResponse,
  type WebMessageRequest,
  type WebMessageResponse,
} from '@parley/core';
import { ApiError, TransportError } from './errors.js';

const validators = new Map<TSchema, ReturnType<typeof Compile>>();
function validator(schema: TSchema) {
  let v = validators.get(schema);
  if (!v) validators.set(schema, (v = Compile(schema)));
  return v;
}
const errorBody = Compile(ErrorBodySchema);

export interface ApiClientOptions {
  /** Base URL of a Parley server, e.g. `https://parley.example.com`. */
  readonly serverUrl: string;
  /** Request timeout in milliseconds (default 15 s). */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** Supplies a valid session token; `refresh` forces a new one. */
export type SessionProvider = (refresh: boolean) => Promise<string>;

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

  /** Installs the session provider used by authenticated calls. */
  useSession(provider: SessionProvider): void {
    this.session = provider;
  }

  private async request<S extends TSchema>(
    method: string,
    path: string,
    schema: S,
    body: unknown,
    auth: boolean,
  ): Promise<Static<S>> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (auth) {
        if (!this.session) throw new ApiError(401, 'session_required', 'no session provider');
        headers['authorization'] = `Bearer ${await this.session(attempt > 0)}`;
      }
      let res: Response;
      try {
        res = await this.fetchImpl(this.serverUrl + path, {
          method,
          headers,
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (cause) {
        throw new TransportError(`cannot reach ${this.serverUrl}`, { cause });
      }
      let json: unknown;
      try {
        json = await res.json();
      } catch (cause) {
        throw new TransportError(`server answered ${res.status} without JSON`, { cause });
      }
      if (!res.ok) {
        if (!errorBody.Check(json)) throw new TransportError(`server answered ${res.status} with an unknown error body`);
        const { code, message, details } = json.error;
        if (auth && res.status === 401 && attempt === 0 && (code === 'session_expired' || code === 'session_invalid')) continue;
        const retryAfter = res.headers.get('retry-after');
        throw new ApiError(res.status, code, message, {
          ...(details ?? {}),
          ...(retryAfter ? { retryAfterMs: Number(retryAfter) * 1000 } : {}),
        });
      }
      if (!validator(schema).Check(json)) throw new TransportError(`server response to ${method} ${path} does not match the API schema`);
      return json as Static<S>;
    }
  }

  registerDevice(body: RegisterDeviceRequest): Promise<RegisterDeviceResponse> {
    return this.request('POST', '/v1/devices', RegisterDeviceResponseSchema, body, false);
  }

  challenge(deviceId: string): Promise<ChallengeResponse> {
    return this.request('POST', '/v1/auth/challenge', ChallengeResponseSchema, { deviceId }, false);
  }

  openSession(body: SessionRequest): Promise<SessionResponse> {
    return this.request('POST', '/v1/auth/session', SessionResponseSchema, body, false);
  }

  identityDevices(identityId: string): Promise<IdentityDevicesResponse> {
    return this.request('GET', `/v1/identities/${encodeURIComponent(identityId)}/devices`, IdentityDevicesResponseSchema, undefined, true);
  }

  device(deviceId: string): Promise<DeviceRecord> {
    return this.request('GET', `/v1/devices/${encodeURIComponent(deviceId)}`, DeviceRecordSchema, undefined, true);
  }

  uploadKeyPackages(body: UploadKeyPackagesRequest): Promise<KeyPackageStock> {
    return this.request('POST', '/v1/key-packages', KeyPackageStockSchema, body, true);
  }

  keyPackageStock(): Promise<KeyPackageStock> {
    return this.request('GET', '/v1/key-packages/stock', KeyPackageStockSchema, undefined, true);
  }

  claimKeyPackages(deviceIds: readonly string[]): Promise<ClaimKeyPackagesResponse> {
    return this.request('POST', '/v1/key-packages/claim', ClaimKeyPackagesResponseSchema, { deviceIds }, true);
  }

  submit(body: SubmitRequest): Promise<SubmitResponse> {
    return this.request('POST', '/v1/messages', SubmitResponseSchema, body, true);
  }

  /** Pending envelopes with ids above `after` (a paging cursor), oldest first. */
  mailbox(limit = 100, after = '0'): Promise<MailboxResponse> {
    return this.request('GET', `/v1/mailbox?limit=${limit}&after=${encodeURIComponent(after)}`, MailboxResponseSchema, undefined, true);
  }

  ack(ids: readonly string[]): Promise<AckResponse> {
    return this.request('POST', '/v1/mailbox/ack', AckResponseSchema, { ids }, true);
  }

  postReceipt(body: ReceiptRequest): Promise<ReceiptResponse> {
    return this.request('POST', '/v1/receipts', ReceiptResponseSchema, body, true);
  }

  /** The evidence bundle of a business message (for its sender's or recipient's devices). */
  evidence(messageId: string): Promise<EvidenceBundle> {
    return this.request('GET', `/v1/audit/messages/${encodeURIComponent(messageId)}/evidence`, EvidenceBundleSchema, undefined, true);
  }

  /** Registers (or, with undefined, forgets) this device's push token. */
  async setPushToken(registration: PushRegistration | undefined): Promise<void> {
    if (registration) await this.request('PUT', '/v1/devices/me/push', OkResponseSchema, registration, true);
    else await this.request('DELETE', '/v1/devices/me/push', OkResponseSchema, undefined, true);
  }

  /** Redeems an app retrieval token (single use): the ciphertext it points at. */
  retrieve(token: string): Promise<RetrieveResponse> {
    return this.request('POST', '/v1/retrieve', RetrieveResponseSchema, { token }, true);
  }

  /** A message to a customer without the app (web retrieval link). */
  webMessage(body: WebMessageRequest): Promise<WebMessageResponse> {
    return this.request('POST', '/v1/web-messages', WebMessageResponseSchema, body, true);
  }

  recordConsent(customerId: string): Promise<unknown> {
    return this.request('POST', '/v1/consents', OkResponseSchema, { customerId }, true);
  }

  /** A message's route: state, delivery path, decisions (sending business only). */
  route(messageId: string): Promise<RouteViewResponse> {
    return this.request('GET', `/v1/routes/${encodeURIComponent(messageId)}`, RouteViewSchema, undefined, true);
  }

  keyDirectoryInfo(): Promise<KeyDirectoryInfo> {
    return this.request('GET', '/v1/keys', KeyDirectoryInfoSchema, undefined, false);
  }

  keyLookup(identityId: string): Promise<KeyLookupResponse> {
    return this.request('GET', `/v1/keys/${encodeURIComponent(identityId)}`, KeyLookupResponseSchema, undefined, true);
  }

  approveDevice(deviceId: string, signature: string): Promise<KeyLogChangeResponse> {
    return this.request('POST', `/v1/devices/${encodeURIComponent(deviceId)}/approve`, KeyLogChangeResponseSchema, { signature }, true);
  }

  revokeDevice(deviceId: string, signature: string): Promise<KeyLogChangeResponse> {
    return this.request('POST', `/v1/devices/${encodeURIComponent(deviceId)}/revoke`, KeyLogChangeResponseSchema, { signature }, true);
  }

  /** RFC 9162 consistency proof between two tree sizes of a log (base64 hashes). */
  consistencyProof(log: string, from: number, to: number): Promise<{ proof: string[] }> {
    return this.request('GET', `/v1/logs/${encodeURIComponent(log)}/consistency?from=${from}&to=${to}`, ProofResponseSchema, undefined, false);
  }

  /** Raw bytes of a tlog-tiles resource (`<prefix>/<path>`), e.g. a tile or entry bundle. */
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

  groupInfo(conversationId: string): Promise<GroupInfoResponse> {
    return this.request('GET', `/v1/conversations/${encodeURIComponent(conversationId)}/group-info`, GroupInfoResponseSchema, undefined, true);
  }
}

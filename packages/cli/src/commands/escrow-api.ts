/**
 * The escrow endpoints of one server, as `parley escrow` calls them: the admin token as
 * the transport credential, every answer checked against its wire schema before use.
 */
import { TransportError } from '@parley/client';
import { callAdminApi } from '../admin-http.js';
import type {
  EscrowApprovalResult,
  EscrowApprovalSubmit,
  EscrowKeyRegistered,
  EscrowOpenResponse,
  EscrowRequestCreate,
  EscrowRequestDetail,
  EscrowRequestView,
} from '@parley/core';
import { parseCommitment } from '@parley/core/audit';
import { parseEscrowApproval, parseEscrowKeyRecord, parseEscrowRequest, type EscrowKeyRecord } from '@parley/core/escrow';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Runs the checks of an answer; any failure (a guard, or core's parser throwing) is a TransportError. */
function checked<T>(value: unknown, what: string, check: (v: Record<string, unknown>) => boolean): T {
  let ok = false;
  try {
    ok = isRecord(value) && check(value);
  } catch {
    ok = false;
  }
  if (!ok) throw new TransportError(`the server's answer to ${what} does not match the escrow API`);
  return value as T;
}

const isView = (v: unknown): boolean =>
  isRecord(v) &&
  parseEscrowRequest(v['request']) !== undefined &&
  typeof v['requestHash'] === 'string' &&
  typeof v['status'] === 'string' &&
  typeof v['threshold'] === 'number' &&
  Array.isArray(v['approvals']) &&
  v['approvals'].every((a) => isRecord(a) && typeof a['officerId'] === 'string' && isRecord(a['audit'])) &&
  isRecord(v['audit']);

/**
 * @example
 * const api = new EscrowApi('https://parley.example', adminToken);
 * const detail = await api.request('esr_…');
 */
export class EscrowApi {
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    return callAdminApi(this.server, this.token, method, path, body, 60_000);
  }

  async registerKey(businessId: string, record: EscrowKeyRecord): Promise<EscrowKeyRegistered> {
    const answer = await this.call('POST', `/v1/admin/businesses/${encodeURIComponent(businessId)}/escrow-keys`, record);
    return checked(answer, 'the key registration', (v) => v['keyId'] === record.keyId && isRecord(v['audit']) && isIndex(v['audit']['index']));
  }

  async createRequest(body: EscrowRequestCreate): Promise<EscrowRequestView> {
    return checked(await this.call('POST', '/v1/escrow/requests', body), 'the request', isView);
  }

  async request(requestId: string): Promise<EscrowRequestDetail> {
    const answer = await this.call('GET', `/v1/escrow/requests/${encodeURIComponent(requestId)}`);
    return checked(answer, 'the request lookup', (v) => isView(v['view']) && parseCommitment(v['commitment']) !== undefined && parseEscrowKeyRecord(v['key']) !== undefined);
  }

  async list(messageId?: string): Promise<EscrowRequestView[]> {
    const query = messageId === undefined ? '' : `?messageId=${encodeURIComponent(messageId)}`;
    const answer = await this.call('GET', `/v1/escrow/requests${query}`);
    return checked<{ requests: EscrowRequestView[] }>(answer, 'the list', (v) => Array.isArray(v['requests']) && v['requests'].every(isView)).requests;
  }

  async approve(requestId: string, body: EscrowApprovalSubmit): Promise<EscrowApprovalResult> {
    const answer = await this.call('POST', `/v1/escrow/requests/${encodeURIComponent(requestId)}/approvals`, body);
    return checked(answer, 'the approval', (v) => typeof v['approvals'] === 'number' && typeof v['threshold'] === 'number' && isRecord(v['audit']) && isIndex(v['audit']['index']));
  }

  async open(requestId: string): Promise<EscrowOpenResponse> {
    const answer = await this.call('POST', `/v1/escrow/requests/${encodeURIComponent(requestId)}/open`);
    return checked(answer, 'the opening', (v) =>
      parseEscrowRequest(v['request']) !== undefined &&
      parseCommitment(v['commitment']) !== undefined &&
      typeof v['blob'] === 'string' &&
      typeof v['publicKey'] === 'string' &&
      Array.isArray(v['shares']) &&
      v['shares'].every((x) => isRecord(x) && typeof x['officerId'] === 'string' && typeof x['released'] === 'string' && typeof x['signature'] === 'string' && parseEscrowApproval(x['approval']) !== undefined) &&
      isRecord(v['audit']) &&
      isIndex(v['audit']['index']),
    );
  }
}

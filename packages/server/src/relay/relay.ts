/**
 * The ciphertext relay (the MLS delivery service, RFC 9420 §16 / RFC 9750):
 * accepts MLS messages, stores them durably per recipient device before it
 * acknowledges, orders commits per group by epoch, and hands out mailboxes.
 * It reads only the clear MLS framing (group id, epoch, content type); it never
 * has a key that could decrypt anything.
 *
 * This file checks a submission's framing and sends it on: commits to commits.ts,
 * application messages and proposals to application-appends.ts; acks go to acks.ts.
 */
import type { Logger } from 'pino';
import {
  InvalidInputError,
  MAX_INT64,
  NotFoundError,
  ParleyError,
  toBase64,
  toBase64Url,
  type AckResponse,
  type GroupInfoResponse,
  type MailboxResponse,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import { inspectMessage } from '@parley/core/mls';
import type { AuthDevice } from '../auth-device.js';
import type { AuditService } from '../audit/audit-service.js';
import type { BusinessStatusCache } from '../business-status.js';
import type { ServerConfig } from '../config.js';
import { groupInfoFor, toEnvelope } from '../repos/mailbox.js';
import type { Router } from '../routing/router.js';
import { isUnavailableError, type Database } from '../storage/database.js';
import { AckWriter } from './acks.js';
import { decodeBase64Fast } from '../util/base64-node.js';
import { ApplicationAppends } from './application-appends.js';
import { CommitWriter } from './commits.js';
import { MailboxReader } from './mailbox-reader.js';
import type { Batching } from './group-commit.js';
import type { MailNotifier } from './notifier.js';
import { Tracing } from '../observability/tracing.js';
import { traceAck, traceDeliver, traceStore, type TracePath } from '../observability/span-message-path.js';

/**
 * @example
 * const relay = new Relay(db, config, notifier, log, audit, router, new BusinessStatusCache(db));
 * const { id } = await relay.submit(device, { conversationId, idempotencyKey, message });
 * const { envelopes } = await relay.fetch(recipientDeviceId, 100);
 * await relay.ack(recipientDeviceId, envelopes.map((e) => e.id));
 */
export class Relay {
  private readonly appends: ApplicationAppends;
  private readonly commits: CommitWriter;
  private readonly acks: AckWriter;
  private readonly pages: MailboxReader;

  constructor(
    private readonly db: Database,
    private readonly config: ServerConfig,
    notifier: MailNotifier,
    log: Logger,
    private readonly audit?: AuditService,
    router?: Router,
    private readonly businessStatus?: BusinessStatusCache,
    /** Spans of the message path (observability/); off by default. */
    readonly tracing: Tracing = Tracing.off,
  ) {
    // A failed batch is split to find the item that fails, unless the database itself is down.
    const batching: Batching = { maxBatch: config.batching.maxBatch, concurrency: db.engine === 'postgres' ? 4 : 1, isolate: (e: unknown) => !isUnavailableError(e) };
    const expiry = () => new Date(Date.now() + config.retention.messageTtlSeconds * 1000);
    this.appends = new ApplicationAppends(db, notifier, batching, expiry, audit, router, tracing);
    this.commits = new CommitWriter(db, notifier, log, expiry);
    this.acks = new AckWriter(db, batching, log, router);
    this.pages = new MailboxReader(db, batching);
  }

  /** Waits for queued writes to finish, then (bounded) for the routing hooks of committed acks (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([this.appends.drain(), this.acks.drainWrites()]);
    await this.acks.drainHooks();
  }

  /**
   * Validates and durably stores one submitted message; resolves after commit. A device of a
   * disabled business is refused (403 `business_disabled`; the status is at most 5 s stale).
   */
  async submit(sender: AuthDevice, request: SubmitRequest): Promise<SubmitResponse> {
    await this.businessStatus?.assertActive(sender.businessId);
    const payload = decodeBase64Fast(request.message, 'message');
    if (payload.length > this.config.limits.maxMessageBytes) {
      throw new ParleyError('payload_too_large', `message exceeds ${this.config.limits.maxMessageBytes} bytes`, { status: 413 });
    }
    const info = inspectMessage(payload);
    if (info.kind !== 'private' && info.kind !== 'public') {
      throw new InvalidInputError('expected an MLS private or public message', { code: 'invalid_mls_message' });
    }
    // MLS epochs are u64 (RFC 9420 §6); the store keeps a signed 64-bit epoch and a commit stores epoch + 1.
    if (info.epoch !== undefined && info.epoch >= MAX_INT64) {
      throw new InvalidInputError('the MLS epoch is out of range', { code: 'epoch_out_of_range' });
    }
    if (info.groupId === undefined || toBase64Url(info.groupId) !== request.conversationId) {
      throw new InvalidInputError('message belongs to another conversation', { code: 'conversation_mismatch' });
    }
    // An escrow blob rides only with a business message's commitment (audit-service checks its class).
    if (request.escrow !== undefined && request.commitment === undefined) {
      throw new InvalidInputError('an escrow blob comes only with a business message commitment', { code: 'escrow_not_allowed' });
    }
    // Blobs are granted by application messages only (application-appends.ts, blob-grants.ts).
    if (request.blobs !== undefined && info.contentType !== 'application') {
      throw new InvalidInputError('only application messages name blobs', { code: 'invalid_request' });
    }
    if (info.contentType === 'commit') return traceStore(this.tracing, 'commit', payload.length, () => this.commits.submit(sender, request, payload, info));
    if (request.members !== undefined || request.welcome !== undefined || request.groupInfo !== undefined) {
      throw new InvalidInputError('only commits carry members, welcome or groupInfo', { code: 'invalid_request' });
    }
    if (request.commitment !== undefined && (!this.audit || info.contentType !== 'application')) {
      throw new InvalidInputError('only application messages carry a commitment', { code: 'invalid_request' });
    }
    return traceStore(this.tracing, info.contentType ?? 'application', payload.length, () => this.appends.submit(sender, request, payload, info));
  }

  /** Up to `limit` pending envelopes of `deviceId` with ids above `after`, oldest first (`via`: an HTTP fetch or a WebSocket page, for the deliver span). */
  async fetch(deviceId: string, limit: number, after = '0', via: TracePath = 'http'): Promise<MailboxResponse> {
    const started = new Date();
    const rows = await this.pages.read(deviceId, after, limit + 1);
    const envelopes = rows.slice(0, limit).map(toEnvelope);
    traceDeliver(this.tracing, via === 'http' ? 'fetch' : 'page', deviceId, envelopes, started);
    return { envelopes, more: rows.length > limit };
  }

  /**
   * Acknowledges envelopes of `deviceId` (they leave its mailbox; the ciphertext
   * goes once every recipient acknowledged). Repeated acks and ids that no longer
   * exist are reported, not refused. Ids of envelopes never addressed to this
   * device are refused with 403 `ack_forbidden`; the device's own ids in the same
   * request are still acknowledged, and nothing of another device changes.
   */
  ack(deviceId: string, ids: readonly string[], via: TracePath = 'http'): Promise<AckResponse> {
    return traceAck(this.tracing, via, deviceId, ids, () => this.acks.submit(deviceId, ids));
  }

  /** The latest GroupInfo of a conversation, for a member that needs to resync. */
  async groupInfo(device: AuthDevice, conversationId: string): Promise<GroupInfoResponse> {
    const row = await groupInfoFor(this.db, conversationId, device.deviceId);
    if (!row) throw new NotFoundError('unknown_conversation', 'no such conversation for this device');
    return { conversationId, epoch: row.epoch, groupInfo: toBase64(row.group_info) };
  }
}

/**
 * The ciphertext relay (the MLS delivery service, RFC 9420 §16 / RFC 9750):
 * accepts MLS messages, stores them durably per recipient device before it
 * acknowledges, orders commits per group by epoch, and hands out mailboxes.
 * It reads only the clear MLS framing (group id, epoch, content type); it never
 * has a key that could decrypt anything.
 */
import type { Logger } from 'pino';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  MAX_INT64,
  NotFoundError,
  ParleyError,
  businessOf,
  fromBase64,
  toBase64,
  toBase64Url,
  type AckResponse,
  type Envelope,
  type GroupInfoResponse,
  type IdentityId,
  type MailboxResponse,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import { inspectMessage, type WireInfo } from '@parley/core/mls';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import type { Router } from '../routing/router.js';
import {
  acknowledge,
  advanceGroup,
  appendEnvelopes,
  classifyNotPending,
  createGroupRow,
  findSubmissions,
  groupInfoFor,
  groupMembers,
  insertEnvelopes,
  lockGroup,
  pendingEnvelopes,
  setGroupMembers,
  submissionKey,
  type EnvelopeRow,
  type NewEnvelope,
} from '../repos/mailbox.js';
import { DatabaseError, isUnavailableError, type Sql } from '../storage/database.js';
import type { AuditService, PreparedCommitment } from '../audit/audit-service.js';
import { getDevices } from '../repos/devices.js';
import { visibleIdentities } from '../directory/visibility.js';
import { GroupCommitter, type FlushResult } from './group-commit.js';
import type { MailNotifier } from './notifier.js';

/** The authenticated device a request comes from. */
export interface AuthDevice {
  readonly deviceId: string;
  readonly identityId: string;
  readonly businessId: string;
}

interface AppendRequest {
  sender: AuthDevice;
  idempotencyKey: string;
  groupId: string;
  kind: 'application' | 'proposal';
  epoch: bigint;
  /** base64, as submitted */
  payload: string;
  payloadBytes: number;
  /** A business message's checked commitment, stored with it in one transaction. */
  audit?: PreparedCommitment;
}

/** SQLSTATE 40P01 (deadlock) and 40001 (serialization failure): safe to run again. */
function isTransient(error: unknown): boolean {
  return error instanceof DatabaseError && (error.sqlState === '40P01' || error.sqlState === '40001');
}

async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransient(error) || attempt >= 3) throw error;
    }
  }
}

/** Longest wait for routing ack hooks on shutdown. */
const ACK_HOOK_DRAIN_MS = 5_000;

/** The message class a signed commitment declares (routing policy key). */
function classOf(commitment: string): string {
  const value = (JSON.parse(commitment) as { class?: unknown }).class;
  return typeof value === 'string' ? value : 'unknown';
}

export class Relay {
  private readonly appends: GroupCommitter<AppendRequest, SubmitResponse>;
  private readonly audited: GroupCommitter<AppendRequest, SubmitResponse>;
  private readonly acks: GroupCommitter<{ deviceId: string; ids: readonly string[] }, AckResponse>;
  /** Routing ack hooks in flight (awaited by `drain`). */
  private readonly ackHooks = new Set<Promise<void>>();

  constructor(
    private readonly db: Database,
    private readonly config: ServerConfig,
    private readonly notifier: MailNotifier,
    private readonly log: Logger,
    private readonly audit?: AuditService,
    private readonly router?: Router,
  ) {
    // A failed batch is split to find the item that fails, unless the database itself is down.
    const batching = { maxBatch: config.batching.maxBatch, concurrency: db.engine === 'postgres' ? 4 : 1, isolate: (e: unknown) => !isUnavailableError(e) };
    this.appends = new GroupCommitter((items) => this.flushAppends(items), batching);
    this.audited = new GroupCommitter((items) => this.flushAudited(items), batching);
    this.acks = new GroupCommitter((items) => this.flushAcks(items), batching);
  }

  /** Waits for queued writes to finish (graceful shutdown). */
  async drain(): Promise<void> {
    await Promise.all([this.appends.drain(), this.audited.drain(), this.acks.drain()]);
    // The routing hooks of committed acks (bounded: one cut off is redone by the next start's reconciliation).
    const deadline = Date.now() + ACK_HOOK_DRAIN_MS;
    while (this.ackHooks.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.ackHooks]), new Promise((r) => (timer = setTimeout(r, deadline - Date.now())))]);
      clearTimeout(timer);
    }
  }

  /** Validates and durably stores one submitted message; resolves after commit. */
  async submit(sender: AuthDevice, request: SubmitRequest): Promise<SubmitResponse> {
    const payload = fromBase64(request.message, 'message');
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
    if (info.contentType === 'commit') return this.submitCommit(sender, request, payload, info);
    if (request.members !== undefined || request.welcome !== undefined || request.groupInfo !== undefined) {
      throw new InvalidInputError('only commits carry members, welcome or groupInfo', { code: 'invalid_request' });
    }
    if (request.commitment !== undefined) {
      if (!this.audit || info.contentType !== 'application') {
        throw new InvalidInputError('only application messages carry a commitment', { code: 'invalid_request' });
      }
      const prepared = await this.audit.prepare(sender, request);
      const result = await this.audited.submit({
        sender,
        idempotencyKey: request.idempotencyKey,
        groupId: request.conversationId,
        kind: 'application',
        epoch: info.epoch ?? 0n,
        payload: canonicalBase64(request.message, payload),
        payloadBytes: payload.length,
        audit: prepared,
      });
      return { ...result, audit: { index: await this.audit.indexOfCommitment(prepared) } };
    }
    return this.appends.submit({
      sender,
      idempotencyKey: request.idempotencyKey,
      groupId: request.conversationId,
      kind: info.contentType === 'proposal' ? 'proposal' : 'application',
      epoch: info.epoch ?? 0n,
      payload: canonicalBase64(request.message, payload),
      payloadBytes: payload.length,
    });
  }

  private expiry(): Date {
    return new Date(Date.now() + this.config.retention.messageTtlSeconds * 1000);
  }

  /**
   * One statement per batch: stores every message whose sender is a member,
   * addressed to the group's other members, once per idempotency key. The rare
   * leftovers (repeats, non-members) are classified afterwards.
   */
  private async flushAppends(requests: readonly AppendRequest[]): Promise<FlushResult<SubmitResponse>[]> {
    return this.storeAppends(this.db, requests);
  }

  /** Business messages: their envelopes and commitments commit together, audit-log entries included. */
  private async flushAudited(requests: readonly AppendRequest[]): Promise<FlushResult<SubmitResponse>[]> {
    const audit = this.audit!;
    const results = await withRetry(() =>
      this.db.transaction(async (tx) => {
        const stored = await this.storeAppends(tx, requests, false);
        // Only what the relay accepted (new or repeated) gets its commitment recorded.
        const prepared = requests.filter((_r, i) => stored[i]?.ok).map((r) => r.audit!);
        await audit.store(tx, prepared);
        // Each new business message gets its delivery route, durable with the message.
        await this.router?.enqueue(
          tx,
          requests.flatMap((r, i) => {
            const result = stored[i];
            if (!result?.ok || result.value.duplicate) return [];
            const row = r.audit!.row;
            return [{ messageId: row.message_id, envelopeId: result.value.id, businessId: businessOf(row.recipient_identity_id as IdentityId), identityId: row.recipient_identity_id, class: classOf(row.commitment) }];
          }),
        );
        return stored;
      }),
    );
    audit.log.kick();
    this.router?.kick();
    this.announce(requests, results);
    return results;
  }

  private async storeAppends(sql: Sql, requests: readonly AppendRequest[], announce = true): Promise<FlushResult<SubmitResponse>[]> {
    const expiresAt = this.expiry();
    const unique = new Map<string, AppendRequest>();
    for (const r of requests) {
      const key = submissionKey(r.sender.deviceId, r.idempotencyKey, 0);
      if (!unique.has(key)) unique.set(key, r);
    }
    const inserted = await withRetry(() =>
      appendEnvelopes(
        sql,
        [...unique.values()].map((r) => ({
          senderDeviceId: r.sender.deviceId,
          idempotencyKey: r.idempotencyKey,
          groupId: r.groupId,
          kind: r.kind,
          epoch: r.epoch,
          payload: r.payload,
          payloadBytes: r.payloadBytes,
          expiresAt,
        })),
      ),
    );
    const leftovers = [...unique.values()].filter((r) => !inserted.has(submissionKey(r.sender.deviceId, r.idempotencyKey, 0)));
    const earlier = leftovers.length > 0 ? await findSubmissions(sql, leftovers.map((r) => ({ senderDeviceId: r.sender.deviceId, idempotencyKey: r.idempotencyKey }))) : new Map();
    const members = leftovers.length > 0 ? await groupMembers(sql, [...new Set(leftovers.map((r) => r.groupId))]) : new Map<string, Set<string>>();
    const results = requests.map((r): FlushResult<SubmitResponse> => {
      const key = submissionKey(r.sender.deviceId, r.idempotencyKey, 0);
      const stored = inserted.get(key);
      if (stored) {
        const first = unique.get(key) === r;
        this.recipientsOf.set(r, stored.recipients);
        return { ok: true, value: { id: stored.id, duplicate: !first, recipients: stored.recipients.length, storedBytes: first ? r.payloadBytes : 0 } };
      }
      const prior = earlier.get(`${r.sender.deviceId}\n${r.idempotencyKey}`)?.find((p: { part: number }) => p.part === 0);
      if (prior) return { ok: true, value: { id: prior.id, duplicate: true, recipients: prior.recipient_count, storedBytes: 0 } };
      const set = members.get(r.groupId);
      if (!set) return { ok: false, error: new NotFoundError('unknown_conversation', 'no such conversation') };
      if (!set.has(r.sender.deviceId)) return { ok: false, error: new ForbiddenError('not_a_member', 'the device is not a member of this conversation') };
      // Lost a race with a concurrent submission of the same key.
      return { ok: false, error: new ConflictError('idempotency_conflict', 'idempotency key is being used concurrently; retry') };
    });
    if (announce) this.announce(requests, results);
    return results;
  }

  private readonly recipientsOf = new WeakMap<AppendRequest, readonly string[]>();

  /** After commit: tells the recipients' connections about each newly stored envelope, once. */
  private announce(requests: readonly AppendRequest[], results: readonly FlushResult<SubmitResponse>[]): void {
    const createdAt = new Date().toISOString();
    requests.forEach((r, i) => {
      const result = results[i];
      const recipients = this.recipientsOf.get(r);
      if (!result?.ok || result.value.duplicate || !recipients) return;
      this.notifier.notifyEnvelope(recipients, {
        id: result.value.id,
        conversationId: r.groupId,
        senderDeviceId: r.sender.deviceId,
        senderIdentityId: r.sender.identityId,
        kind: r.kind,
        epoch: r.epoch.toString(),
        payload: r.payload,
        createdAt,
      });
    });
  }

  private async submitCommit(sender: AuthDevice, request: SubmitRequest, payload: Uint8Array, info: WireInfo): Promise<SubmitResponse> {
    const members = request.members;
    if (members === undefined) throw new InvalidInputError('a commit must list the group members after it', { code: 'members_required' });
    if (!members.includes(sender.deviceId)) {
      throw new InvalidInputError('the committer must be a member after its commit', { code: 'invalid_members' });
    }
    if (request.groupInfo === undefined) throw new InvalidInputError('a commit must carry the new GroupInfo', { code: 'group_info_required' });
    const groupInfo = fromBase64(request.groupInfo, 'groupInfo');
    const giInfo = inspectMessage(groupInfo);
    const epoch = info.epoch ?? 0n;
    if (giInfo.kind !== 'group_info' || giInfo.groupId === undefined || toBase64Url(giInfo.groupId) !== request.conversationId) {
      throw new InvalidInputError('groupInfo is not a GroupInfo of this conversation', { code: 'invalid_group_info' });
    }
    if (giInfo.epoch !== epoch + 1n) throw new InvalidInputError('groupInfo is not for the epoch after the commit', { code: 'invalid_group_info' });
    const welcome = request.welcome === undefined ? undefined : fromBase64(request.welcome, 'welcome');
    if (welcome !== undefined && inspectMessage(welcome).kind !== 'welcome') {
      throw new InvalidInputError('welcome is not an MLS Welcome', { code: 'invalid_mls_message' });
    }
    if (info.kind === 'public' && info.senderType !== 'member' && info.senderType !== 'new_member_commit') {
      throw new InvalidInputError('unsupported commit sender', { code: 'invalid_mls_message' });
    }

    // Every listed device must exist, be active and be one the committer may see (its
    // business; for a customer: itself, the business and its co-members, visibility.ts):
    // a customer cannot have the server mail a Welcome to any other customer.
    const devices = await getDevices(this.db, members);
    const byId = new Map(devices.map((d) => [d.id, d]));
    const visible = await visibleIdentities(this.db, sender, devices.map((d) => d.identity_id));
    for (const id of members) {
      const d = byId.get(id);
      if (!d || d.status !== 'active' || !visible.has(d.identity_id)) {
        throw new InvalidInputError('members lists an unknown or inactive device', { code: 'invalid_members', details: { deviceId: id } });
      }
    }

    const notices: { recipients: readonly string[]; envelope: Envelope }[] = [];
    const result = await this.db.transaction(async (tx): Promise<SubmitResponse> => {
      const prior = (await findSubmissions(tx, [{ senderDeviceId: sender.deviceId, idempotencyKey: request.idempotencyKey }])).get(
        `${sender.deviceId}\n${request.idempotencyKey}`,
      );
      if (prior && prior.length > 0) {
        const main = prior.find((p) => p.part === 0)!;
        const w = prior.find((p) => p.part === 1);
        return {
          id: main.id,
          ...(w ? { welcomeId: w.id } : {}),
          duplicate: true,
          recipients: main.recipient_count + (w?.recipient_count ?? 0),
          storedBytes: 0,
        };
      }
      const group = await lockGroup(tx, request.conversationId);
      let current: Set<string>;
      if (group === undefined) {
        if (epoch !== 0n || info.kind !== 'private') {
          throw new NotFoundError('unknown_conversation', 'no such conversation');
        }
        if (!(await createGroupRow(tx, request.conversationId, 1n, groupInfo, sender.deviceId))) {
          throw new ConflictError('epoch_conflict', 'the conversation was created concurrently', { details: { currentEpoch: '1' } });
        }
        current = new Set([sender.deviceId]);
      } else {
        current = (await groupMembers(tx, [request.conversationId])).get(request.conversationId) ?? new Set();
        if (!current.has(sender.deviceId)) throw new ForbiddenError('not_a_member', 'the device is not a member of this conversation');
        if (BigInt(group.epoch) !== epoch) {
          throw new ConflictError('epoch_conflict', 'the conversation moved to another epoch; process pending messages and retry', {
            details: { currentEpoch: group.epoch },
          });
        }
        await advanceGroup(tx, request.conversationId, epoch + 1n, groupInfo);
      }
      const commitRecipients = [...current].filter((d) => d !== sender.deviceId);
      const newMembers = members.filter((d) => !current.has(d));
      if (newMembers.length > 0 && welcome === undefined) {
        throw new InvalidInputError('the commit adds devices but carries no Welcome', { code: 'welcome_required' });
      }
      if (newMembers.length === 0 && welcome !== undefined) {
        throw new InvalidInputError('a Welcome needs devices to welcome', { code: 'invalid_members' });
      }
      await setGroupMembers(tx, request.conversationId, members);
      const envelopes: NewEnvelope[] = [
        {
          senderDeviceId: sender.deviceId,
          idempotencyKey: request.idempotencyKey,
          part: 0,
          groupId: request.conversationId,
          kind: 'commit',
          epoch,
          payload: canonicalBase64(request.message, payload),
          payloadBytes: payload.length,
          expiresAt: this.expiry(),
          recipients: commitRecipients,
        },
      ];
      if (welcome !== undefined) {
        envelopes.push({
          senderDeviceId: sender.deviceId,
          idempotencyKey: request.idempotencyKey,
          part: 1,
          groupId: request.conversationId,
          kind: 'welcome',
          epoch: epoch + 1n,
          payload: canonicalBase64(request.welcome!, welcome),
          payloadBytes: welcome.length,
          expiresAt: this.expiry(),
          recipients: newMembers,
        });
      }
      const inserted = await insertEnvelopes(tx, envelopes);
      const now = new Date().toISOString();
      const ids = envelopes.map((e) => inserted.get(submissionKey(e.senderDeviceId, e.idempotencyKey, e.part))!);
      envelopes.forEach((e, i) =>
        notices.push({
          recipients: e.recipients,
          envelope: {
            id: ids[i]!,
            conversationId: e.groupId,
            senderDeviceId: sender.deviceId,
            senderIdentityId: sender.identityId,
            kind: e.kind,
            epoch: e.epoch!.toString(),
            payload: e.payload,
            createdAt: now,
          },
        }),
      );
      return {
        id: ids[0]!,
        ...(ids[1] !== undefined ? { welcomeId: ids[1] } : {}),
        duplicate: false,
        recipients: commitRecipients.length + newMembers.length,
        storedBytes: payload.length + (welcome?.length ?? 0),
        epoch: (epoch + 1n).toString(),
      };
    });
    for (const n of notices) this.notifier.notifyEnvelope(n.recipients, n.envelope);
    this.log.debug({ conversation: request.conversationId, epoch: result.epoch, duplicate: result.duplicate }, 'commit accepted');
    return result;
  }

  /** Up to `limit` pending envelopes of `deviceId` with ids above `after`, oldest first. */
  async fetch(deviceId: string, limit: number, after = '0'): Promise<MailboxResponse> {
    const rows = await pendingEnvelopes(this.db, deviceId, after, limit + 1);
    return { envelopes: rows.slice(0, limit).map(toEnvelope), more: rows.length > limit };
  }

  /**
   * Acknowledges envelopes of `deviceId` (they leave its mailbox; the ciphertext
   * goes once every recipient acknowledged). Repeated acks and ids that no longer
   * exist are reported, not refused. Ids of envelopes never addressed to this
   * device are refused with 403 `ack_forbidden`; the device's own ids in the same
   * request are still acknowledged, and nothing of another device changes.
   */
  ack(deviceId: string, ids: readonly string[]): Promise<AckResponse> {
    return this.acks.submit({ deviceId, ids });
  }

  private async flushAcks(requests: readonly { deviceId: string; ids: readonly string[] }[]): Promise<FlushResult<AckResponse>[]> {
    const pairs = requests.flatMap((r) => r.ids.map((envelopeId) => ({ deviceId: r.deviceId, envelopeId })));
    // With routing, the same statement marks the routes their recipient acknowledged
    // (routes.acked_at): from its commit on, no fallback step hands anything to a provider.
    let routed = new Set<string>();
    const done = await withRetry(() => {
      routed = new Set<string>();
      return acknowledge(this.db, pairs, this.router ? routed : undefined);
    });
    if (this.router && routed.size > 0) {
      // Off the ack's path: the router finishes those routes (revokes, confirms, records the path).
      // Tracked so that a graceful stop waits for it; after a crash, the start-up reconciliation does it.
      const hook: Promise<void> = this.router
        .onAcked([...routed])
        .catch((error: unknown) => this.log.warn({ err: error instanceof Error ? error.message : 'error' }, 'routing ack hook failed; the route is finished at its next step'))
        .finally(() => this.ackHooks.delete(hook));
      this.ackHooks.add(hook);
    }
    const leftovers = pairs.filter((p) => !done.has(`${p.deviceId}\n${p.envelopeId}`));
    const classes = await classifyNotPending(this.db, leftovers);
    return requests.map((r): FlushResult<AckResponse> => {
      let acked = 0;
      const unknown: string[] = [];
      const forbidden: string[] = [];
      for (const id of r.ids) {
        const key = `${r.deviceId}\n${id}`;
        if (done.has(key)) acked++;
        else {
          const c = classes.get(key);
          if (c === 'unknown') unknown.push(id);
          else if (c === 'forbidden') forbidden.push(id);
        }
      }
      if (forbidden.length > 0) {
        return {
          ok: false,
          error: new ForbiddenError('ack_forbidden', 'some ids are not addressed to this device', { details: { ids: forbidden, acked } }),
        };
      }
      return { ok: true, value: { acked, unknown } };
    });
  }

  /** The latest GroupInfo of a conversation, for a member that needs to resync. */
  async groupInfo(device: AuthDevice, conversationId: string): Promise<GroupInfoResponse> {
    const row = await groupInfoFor(this.db, conversationId, device.deviceId);
    if (!row) throw new NotFoundError('unknown_conversation', 'no such conversation for this device');
    return { conversationId, epoch: row.epoch, groupInfo: toBase64(row.group_info) };
  }
}

/** The submitted base64 if it is already standard padded base64 (RFC 4648 §4), else a re-encoding. */
function canonicalBase64(text: string, bytes: Uint8Array): string {
  return text.length % 4 === 0 && !/[-_]/.test(text) ? text : toBase64(bytes);
}

function toEnvelope(row: EnvelopeRow): Envelope {
  return {
    id: row.id,
    conversationId: row.group_id,
    senderDeviceId: row.sender_device_id,
    senderIdentityId: row.sender_identity_id,
    kind: row.kind,
    ...(row.epoch !== null ? { epoch: row.epoch } : {}),
    payload: row.payload.replace(/\n/g, ''),
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/**
 * Application messages and proposals: the group committer batches the submissions that
 * arrive while the previous batch is being written, and ONE statement (a data-modifying
 * CTE) stores each one whose sender is a member, addressed to the group's other members,
 * once per idempotency key. Business messages (with a signed commitment) take the same
 * path inside a transaction that also stores their commitments, audit-log entries and
 * delivery routes. A message naming blobs is stored in a transaction that also checks them and
 * grants them to its recipient devices (blob-grants.ts). After commit, the recipients'
 * connections are told.
 */
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  businessOf,
  toBase64Url,
  type IdentityId,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import type { WireInfo } from '@parley/core/mls';
import type { AuthDevice } from '../auth-device.js';
import type { AuditService, PreparedCommitment } from '../audit/audit-service.js';
import { appendEnvelopes, findSubmissions, groupMembers, submissionKey } from '../repos/mailbox.js';
import type { Router } from '../routing/router.js';
import { retryTransient, type Database, type Sql } from '../storage/database.js';
import { blobRefusals, grantBlobs } from './blob-grants.js';
import { canonicalBase64 } from './canonical-base64.js';
import { GroupCommitter, type Batching, type FlushResult } from './group-commit.js';
import type { MailNotifier } from './notifier.js';
import type { Context } from '@opentelemetry/api';
import { Tracing } from '../observability/tracing.js';
import { traceRoutes, type TracedRoute } from '../observability/span-routing.js';
import { envelopeKey } from '../observability/span-message-path.js';

interface AppendRequest {
  sender: AuthDevice;
  idempotencyKey: string;
  groupId: string;
  kind: 'application' | 'proposal';
  epoch: bigint;
  /** base64, as stored */
  payload: string;
  payloadBytes: number;
  /** A business message's checked commitment, stored with it in one transaction. */
  audit?: PreparedCommitment;
  /** Blobs the message names (application messages only): granted to its recipients. */
  blobs?: readonly string[];
  /** The span the submission runs in (its route span hangs below it). */
  trace?: Context | undefined;
}

/** How long a repeated submission's wake-up is not repeated, and how many are remembered. */
const REPEAT_WAKE_MS = 10_000;
const MAX_REMEMBERED_REPEATS = 10_000;

/** The message class a signed commitment declares (routing policy key). */
function classOf(commitment: string): string {
  const value = (JSON.parse(commitment) as { class?: unknown }).class;
  return typeof value === 'string' ? value : 'unknown';
}

/**
 * @example
 * const appends = new ApplicationAppends(db, notifier, batching, () => expiry, audit, router);
 * const stored = await appends.submit(sender, request, payload, info);
 */
export class ApplicationAppends {
  private readonly plain: GroupCommitter<AppendRequest, SubmitResponse>;
  private readonly audited: GroupCommitter<AppendRequest, SubmitResponse>;
  /** Recipients of each newly stored request, for the notices after commit. */
  private readonly recipientsOf = new WeakMap<AppendRequest, readonly string[]>();
  /**
   * A repeated submission: the stored envelope and the group's other members. Its first
   * attempt may have committed and then failed before its notices (the sender retried), so
   * the recipients are told to look (they find it only if it is still pending).
   */
  private readonly repeatOf = new WeakMap<AppendRequest, { id: string; recipients: readonly string[] }>();
  /** Envelopes whose recipients were told about a repeat lately (insertion order = time order). */
  private readonly recentRepeats = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly notifier: MailNotifier,
    batching: Batching,
    /** When a message stored now expires unacknowledged. */
    private readonly expiry: () => Date,
    private readonly audit?: AuditService,
    private readonly router?: Router,
    private readonly tracing: Tracing = Tracing.off,
  ) {
    this.plain = new GroupCommitter((items) => this.flushPlain(items), batching);
    // Business messages end on the audit log's row lock (sequenced in their transaction), so
    // more than two flushes at once would only queue there; fewer flushes make larger batches
    // (fewer statements and checkpoint signatures per commitment).
    this.audited = new GroupCommitter((items) => this.flushAudited(items), { ...batching, concurrency: Math.min(batching.concurrency, 2) });
  }

  /**
   * Stores one application message or proposal (already checked as MLS framing of this
   * conversation); resolves after commit. With a commitment it is a business message:
   * checked by the audit service and stored with its commitment and route.
   */
  async submit(sender: AuthDevice, request: SubmitRequest, payload: Uint8Array, info: WireInfo): Promise<SubmitResponse> {
    const append = {
      sender,
      idempotencyKey: request.idempotencyKey,
      groupId: request.conversationId,
      epoch: info.epoch ?? 0n,
      payload: canonicalBase64(request.message, payload),
      payloadBytes: payload.length,
      ...(request.blobs !== undefined ? { blobs: request.blobs } : {}),
      trace: this.tracing.current(),
    };
    if (request.commitment === undefined) {
      return this.plain.submit({ ...append, kind: info.contentType === 'proposal' ? 'proposal' : 'application' });
    }
    const audit = this.audit!;
    const prepared = await audit.prepare(sender, request);
    const result = await this.audited.submit({ ...append, kind: 'application', audit: prepared });
    // A duplicate (same sender device and idempotency key) was dropped: nothing reached the
    // recipients, and the answer names the commitment the log holds (the first one).
    const logged = result.duplicate ? await audit.logged(prepared) : prepared;
    // The index is final: the entry was sequenced in the transaction that stored the message.
    return { ...result, audit: { index: await audit.indexOfCommitment(logged), commitmentHash: toBase64Url(logged.hash) } };
  }

  private rememberRepeat(envelopeId: string): void {
    const now = Date.now();
    for (const [id, at] of this.recentRepeats) {
      if (now - at < REPEAT_WAKE_MS && this.recentRepeats.size < MAX_REMEMBERED_REPEATS) break;
      this.recentRepeats.delete(id);
    }
    if (!this.recentRepeats.has(envelopeId)) this.recentRepeats.set(envelopeId, now);
  }

  /** Waits for queued appends to commit. */
  async drain(): Promise<void> {
    await Promise.all([this.plain.drain(), this.audited.drain()]);
  }

  /**
   * Plain messages: one statement; a batch where a message names blobs is one transaction
   * (blob checks and grants with the envelopes), announced after commit.
   */
  private async flushPlain(requests: readonly AppendRequest[]): Promise<FlushResult<SubmitResponse>[]> {
    if (!requests.some((r) => r.blobs !== undefined)) return this.storeAppends(this.db, requests);
    const results = await retryTransient(() => this.db.transaction((tx) => this.storeAppends(tx, requests, false)));
    this.announce(requests, results);
    return results;
  }

  /** Business messages: their envelopes and commitments commit together, audit-log entries included. */
  private async flushAudited(requests: readonly AppendRequest[]): Promise<FlushResult<SubmitResponse>[]> {
    const audit = this.audit!;
    const routed: TracedRoute[] = [];
    const enqueuedAt = new Date();
    const results = await retryTransient(() =>
      this.db.transaction(async (tx) => {
        routed.length = 0;
        const stored = await this.storeAppends(tx, requests, false);
        // Each new business message gets its delivery route, durable with the message.
        await this.router?.enqueue(
          tx,
          requests.flatMap((r, i) => {
            const result = stored[i];
            if (!result?.ok || result.value.duplicate) return [];
            const row = r.audit!.row;
            const route = { messageId: row.message_id, envelopeId: result.value.id, businessId: businessOf(row.recipient_identity_id as IdentityId), identityId: row.recipient_identity_id, class: classOf(row.commitment) };
            if (this.tracing.enabled && this.router) routed.push(this.traced(this.router, route, r.trace));
            return [route];
          }),
        );
        // Last: only what the relay accepted (new or repeated) gets its commitment recorded, and
        // the new ones are sequenced into the audit log here, under the log's lock until commit.
        await audit.store(tx, requests.filter((_r, i) => stored[i]?.ok).map((r) => r.audit!));
        return stored;
      }),
    );
    traceRoutes(this.tracing, routed, enqueuedAt);
    this.router?.kick();
    this.announce(requests, results);
    return results;
  }

  /** What the route span of a newly stored business message says (tracing on only). */
  private traced(router: Router, route: { messageId: string; envelopeId: string; businessId: string; class: string }, parent: Context | undefined): TracedRoute {
    const metrics = router.metricsRegistry();
    return { ...route, classLabel: metrics.classLabel(route.class), chain: router.policyFor(route.businessId, route.class).chain.map((s) => s.step), parent };
  }

  /**
   * One statement per batch: stores every message whose sender is a member, addressed to
   * the group's other members, once per idempotency key. The rare leftovers (repeats,
   * non-members) are classified afterwards.
   */
  private async storeAppends(sql: Sql, requests: readonly AppendRequest[], announce = true): Promise<FlushResult<SubmitResponse>[]> {
    const expiresAt = this.expiry();
    // Messages naming blobs that are not the sender's complete blobs are refused (alone).
    const refused = await blobRefusals(sql, requests);
    const unique = new Map<string, AppendRequest>();
    for (const r of requests) {
      if (refused.has(r)) continue;
      const key = submissionKey(r.sender.deviceId, r.idempotencyKey, 0);
      if (!unique.has(key)) unique.set(key, r);
    }
    const inserted = await retryTransient(() =>
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
    await grantBlobs(
      sql,
      [...unique.values()].flatMap((r) => {
        const stored = r.blobs ? inserted.get(submissionKey(r.sender.deviceId, r.idempotencyKey, 0)) : undefined;
        return stored ? [{ blobs: r.blobs!, envelopeId: stored.id, recipients: stored.recipients }] : [];
      }),
    );
    const results = requests.map((r): FlushResult<SubmitResponse> => {
      const refusal = refused.get(r);
      if (refusal) return { ok: false, error: refusal };
      const key = submissionKey(r.sender.deviceId, r.idempotencyKey, 0);
      const stored = inserted.get(key);
      if (stored) {
        const first = unique.get(key) === r;
        this.recipientsOf.set(r, stored.recipients);
        return { ok: true, value: { id: stored.id, duplicate: !first, recipients: stored.recipients.length, storedBytes: first ? r.payloadBytes : 0 } };
      }
      const prior = earlier.get(`${r.sender.deviceId}\n${r.idempotencyKey}`)?.find((p: { part: number }) => p.part === 0);
      const set = members.get(r.groupId);
      if (prior) {
        if (prior.recipient_count > 0 && set) this.repeatOf.set(r, { id: prior.id, recipients: [...set].filter((d) => d !== r.sender.deviceId) });
        return { ok: true, value: { id: prior.id, duplicate: true, recipients: prior.recipient_count, storedBytes: 0 } };
      }
      if (!set) return { ok: false, error: new NotFoundError('unknown_conversation', 'no such conversation') };
      if (!set.has(r.sender.deviceId)) return { ok: false, error: new ForbiddenError('not_a_member', 'the device is not a member of this conversation') };
      // Lost a race with a concurrent submission of the same key.
      return { ok: false, error: new ConflictError('idempotency_conflict', 'idempotency key is being used concurrently; retry') };
    });
    if (announce) this.announce(requests, results);
    return results;
  }

  /** After commit: tells the recipients' connections about each newly stored envelope, once. */
  private announce(requests: readonly AppendRequest[], results: readonly FlushResult<SubmitResponse>[]): void {
    const createdAt = new Date().toISOString();
    requests.forEach((r, i) => {
      const result = results[i];
      const repeat = this.repeatOf.get(r);
      if (repeat && result?.ok) {
        // Once per envelope and 10 s: a sender repeating a key cannot make every member re-read.
        if (!this.recentRepeats.has(repeat.id)) this.notifier.notifyPending(repeat.recipients, [repeat.id]);
        return this.rememberRepeat(repeat.id);
      }
      const recipients = this.recipientsOf.get(r);
      if (!result?.ok || result.value.duplicate || !recipients) return;
      // Before the live push: its deliver span links to the span that stored the envelope.
      this.tracing.rememberContext(envelopeKey(result.value.id), r.trace);
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
}

/**
 * Commits, ordered per group (RFC 9420 §14): a commit is accepted only for the group's
 * current epoch (`409 epoch_conflict` otherwise). It carries the post-commit device list,
 * the Welcome for added devices and the new GroupInfo, which is kept for resync. One
 * transaction advances the group, replaces its members and stores the commit (to the old
 * members) and the Welcome (to the new ones); the recipients are told after commit.
 */
import type { Logger } from 'pino';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  fromBase64,
  toBase64Url,
  type Envelope,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import { inspectMessage, type WireInfo } from '@parley/core/mls';
import type { AuthDevice } from '../auth-device.js';
import { visibleIdentities } from '../directory/visibility.js';
import { getDevices } from '../repos/devices.js';
import {
  advanceGroup,
  createGroupRow,
  findSubmissions,
  groupMembers,
  insertEnvelopes,
  lockGroup,
  setGroupMembers,
  submissionKey,
  type NewEnvelope,
} from '../repos/mailbox.js';
import type { Database } from '../storage/database.js';
import { canonicalBase64 } from './canonical-base64.js';
import type { MailNotifier } from './notifier.js';

/** What a commit submission carries besides the commit itself, checked before any write. */
interface CheckedCommit {
  readonly members: readonly string[];
  readonly groupInfo: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  readonly epoch: bigint;
}

/**
 * @example
 * const commits = new CommitWriter(db, notifier, log, () => expiry);
 * const { epoch } = await commits.submit(sender, request, payload, info);
 */
export class CommitWriter {
  constructor(
    private readonly db: Database,
    private readonly notifier: MailNotifier,
    private readonly log: Logger,
    /** When a message stored now expires unacknowledged. */
    private readonly expiry: () => Date,
  ) {}

  /** Stores one commit (already checked as MLS framing of this conversation); resolves after commit. */
  async submit(sender: AuthDevice, request: SubmitRequest, payload: Uint8Array, info: WireInfo): Promise<SubmitResponse> {
    const { members, groupInfo, welcome, epoch } = await this.check(sender, request, info);
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

  /**
   * The members list, GroupInfo and Welcome of a commit submission. Every listed device must
   * exist, be active and be one the committer may see (its business; for a customer: itself,
   * the business and its co-members, visibility.ts): a customer cannot have the server mail
   * a Welcome to any other customer.
   */
  private async check(sender: AuthDevice, request: SubmitRequest, info: WireInfo): Promise<CheckedCommit> {
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
    const devices = await getDevices(this.db, members);
    const byId = new Map(devices.map((d) => [d.id, d]));
    const visible = await visibleIdentities(this.db, sender, devices.map((d) => d.identity_id));
    for (const id of members) {
      const d = byId.get(id);
      if (!d || d.status !== 'active' || !visible.has(d.identity_id)) {
        throw new InvalidInputError('members lists an unknown or inactive device', { code: 'invalid_members', details: { deviceId: id } });
      }
    }
    return { members, groupInfo, welcome, epoch };
  }
}

/**
 * Server-less fixture for the device's modules: real MLS (ts-mls through
 * `@parley/core/mls`, node:crypto) and a small in-memory delivery service that
 * accepts a commit only for the group's current epoch, like the real relay.
 */
import {
  encodeContent,
  newMessageId,
  parseDeviceId,
  parseIdentityId,
  toBase64,
  fromBase64,
  type ClaimKeyPackagesResponse,
  type ConversationId,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import {
  DEFAULT_SUITE,
  commitChanges,
  createGroup,
  createKeyPackage,
  encryptApplication,
  generateSignatureKeyPair,
  inspectMessage,
  joinFromWelcome,
  loadSuite,
  type AuthenticateMember,
  type MemberRef,
  type MlsGroup,
  type MlsSuite,
} from '@parley/core/mls';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { Committer } from '../src/commits.js';
import { ConversationState } from '../src/conversation-state.js';
import { ConversationRegistry } from '../src/conversations.js';
import { ApiError } from '../src/errors.js';
import { EventHub } from '../src/event-hub.js';
import type { DeviceEvent } from '../src/events.js';
import { KeyStoreError, type KeyStore, type KeyStoreOp } from '../src/key-store.js';
import { MemoryKeyStore } from '../src/key-store.memory.js';
import type { MlsSelf } from '../src/mls-self.js';
import { Outbox, type SubmitChannel } from '../src/outbox.js';

let suitePromise: Promise<MlsSuite> | undefined;
export function suite(): Promise<MlsSuite> {
  return (suitePromise ??= loadSuite(DEFAULT_SUITE, nodeCryptoProvider));
}

/** Tests trust every credential: the key log is not what these tests are about. */
export const acceptAll: AuthenticateMember = async () => true;

export function memberRef(identity: string, device: string): MemberRef {
  return { identityId: parseIdentityId(identity), deviceId: parseDeviceId(device.padEnd(16, '0')) };
}

export async function mlsSelf(member: MemberRef, authenticate: AuthenticateMember = acceptAll): Promise<MlsSelf> {
  const s = await suite();
  return { suite: s, suites: new Map([[s.name, s]]), member, signatureKeys: await generateSignatureKeyPair(s), authenticate };
}

/** A KeyPackage of another device (public half only, as a claim returns it). */
export async function keyPackageOf(member: MemberRef): Promise<Uint8Array> {
  const s = await suite();
  return (await createKeyPackage(s, member, await generateSignatureKeyPair(s))).keyPackage;
}

/**
 * The delivery service's `submit` and `claimKeyPackages`, in memory. A commit
 * (a request with `members`) is accepted only for the group's current epoch;
 * an idempotency key seen before gets the first answer again.
 */
export class FakeApi {
  readonly requests: SubmitRequest[] = [];
  readonly epochs = new Map<string, bigint>();
  readonly keyPackages = new Map<string, Uint8Array>();
  /** Errors thrown by the next submissions, in order, before the request is looked at. */
  readonly failures: unknown[] = [];
  private readonly answers = new Map<string, SubmitResponse>();
  private nextId = 1;

  async submit(request: SubmitRequest): Promise<SubmitResponse> {
    this.requests.push(request);
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    const earlier = this.answers.get(request.idempotencyKey);
    if (earlier) return { ...earlier, duplicate: true };
    if (request.members) {
      const epoch = inspectMessage(fromBase64(request.message)).epoch ?? 0n;
      const current = this.epochs.get(request.conversationId) ?? 0n;
      if (epoch !== current) throw new ApiError(409, 'epoch_conflict', 'the group has moved on', { epoch: current.toString() });
      this.epochs.set(request.conversationId, current + 1n);
    }
    const answer: SubmitResponse = { id: String(this.nextId++), duplicate: false, recipients: 1, storedBytes: request.message.length };
    this.answers.set(request.idempotencyKey, answer);
    return answer;
  }

  /** Device ids of every claim, in order. */
  readonly claims: string[][] = [];

  async claimKeyPackages(deviceIds: readonly string[]): Promise<ClaimKeyPackagesResponse> {
    this.claims.push([...deviceIds]);
    const keyPackages = deviceIds.flatMap((deviceId) => {
      const kp = this.keyPackages.get(deviceId);
      return kp ? [{ deviceId, keyPackage: toBase64(kp), lastResort: false }] : [];
    });
    return { keyPackages };
  }
}

/** A WebSocket stand-in for the outbox. */
export class FakeChannel implements SubmitChannel {
  online = true;
  readonly requests: SubmitRequest[] = [];
  constructor(private readonly answer: (request: SubmitRequest) => Promise<SubmitResponse>) {}
  submit(request: SubmitRequest): Promise<SubmitResponse> {
    this.requests.push(request);
    return this.answer(request);
  }
}

/** The parts of one device that commits and sends, over `api` and `store` (a second call over the same store is a restart). */
export interface Rig {
  readonly store: KeyStore;
  readonly api: FakeApi;
  readonly self: MlsSelf;
  readonly conversations: ConversationRegistry;
  readonly hub: EventHub<DeviceEvent>;
  readonly events: DeviceEvent[];
  readonly outbox: Outbox;
  readonly committer: Committer;
  catchUps: number;
  released: string[];
}

export async function rig(options: { store?: KeyStore; api?: FakeApi; self?: MlsSelf; catchUp?: (rig: Rig) => Promise<void> } = {}): Promise<Rig> {
  const store = options.store ?? new MemoryKeyStore();
  const api = options.api ?? new FakeApi();
  const self = options.self ?? (await mlsSelf(memberRef('bank:agent', 'agent-device')));
  const conversations = new ConversationRegistry();
  await conversations.load(store, self.authenticate);
  const hub = new EventHub<DeviceEvent>();
  const events: DeviceEvent[] = [];
  hub.subscribe((e) => events.push(e));
  const outbox = new Outbox({ store, api, channel: () => undefined, retry: { retries: 2, sleep: async () => {} } });
  const r: Rig = {
    store,
    api,
    self,
    conversations,
    hub,
    events,
    outbox,
    catchUps: 0,
    released: [],
    committer: new Committer({
      store,
      mls: self,
      conversations,
      hub,
      submit: (request) => outbox.submit(request),
      catchUp: async () => {
        r.catchUps++;
        await options.catchUp?.(r);
      },
      onAdopted: (id) => r.released.push(id),
    }),
  };
  return r;
}

/** A conversation with only this device in it, persisted (epoch 0). */
export async function soloConversation(r: Rig): Promise<ConversationState> {
  const { suite: s, member, signatureKeys, authenticate } = r.self;
  const group = await createGroup(s, crypto.getRandomValues(new Uint8Array(32)), member, signatureKeys, authenticate);
  const state = ConversationState.fresh(group, new Date());
  await r.store.write([...state.stateOps(group), ...state.metaOps()]);
  state.adopt(group);
  r.conversations.add(state);
  return state;
}

/** A conversation of the rig's device and one other member, who holds its own copy of the group. */
export async function twoMembers(r: Rig): Promise<{
  id: ConversationId;
  otherMember: MemberRef;
  other: () => MlsGroup;
  otherCommits: () => Promise<Uint8Array>;
  otherSends: (text: string) => Promise<Uint8Array>;
}> {
  const s = await suite();
  const conversation = await soloConversation(r);
  const member = memberRef('bank:cust', 'other-device');
  const keys = await generateSignatureKeyPair(s);
  const kp = await createKeyPackage(s, member, keys);
  await r.committer.commit(conversation.id, async () => ({ add: [kp.keyPackage] }));
  const welcome = r.api.requests.at(-1)!.welcome!;
  let group = (await joinFromWelcome(s, fromBase64(welcome), keys.privateKey, async () => kp, acceptAll)).group;
  return {
    id: conversation.id,
    otherMember: member,
    other: () => group,
    otherSends: async (text) => {
      const content = encodeContent({ v: 1, id: newMessageId(), type: 'text', text, class: 'chat', sentAt: new Date().toISOString() });
      const out = await encryptApplication(s, group, content);
      group = out.group;
      return out.message;
    },
    // The other member commits (an update) and the server accepts it: the rig's device is now an epoch behind.
    otherCommits: async () => {
      const out = await commitChanges(s, group, {});
      await r.api.submit({
        idempotencyKey: `other-${out.epoch}`,
        conversationId: conversation.id,
        message: toBase64(out.commit),
        members: out.group.members().map((m) => m.member.deviceId),
        groupInfo: toBase64(out.groupInfo),
      });
      group = out.group;
      return out.commit;
    },
  };
}

/** A MemoryKeyStore whose next `failWrites` writes fail (a full disk), applying nothing. */
export class FlakyStore extends MemoryKeyStore {
  failWrites = 0;
  override async write(ops: readonly KeyStoreOp[]): Promise<void> {
    if (this.failWrites > 0) {
      this.failWrites--;
      throw new KeyStoreError('key_store_io_error', 'disk full');
    }
    return super.write(ops);
  }
}

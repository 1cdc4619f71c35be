/**
 * Where the device runs its content policies (dlp/): on send, before anything is encrypted,
 * and on receive, after decryption and before the app sees the message. The gate knows what
 * the engine cannot: the conversation's kind, from the verified key log —
 * `business` (a customer and a business's service or staff), `customer` (customers only) or
 * `staff` (a business's own devices only) — and the message's attachments (metadata only).
 */
import type { AttachmentRef, DlpOutcome } from '@parley/core';
import type { MemberRef } from '@parley/core/mls';
import { applyContentPolicies, assertAllowed, validateContentPolicyConfig, type ContentPolicyConfig, type ContentPolicyResult } from './dlp/index.js';
import type { ContentDirection } from './dlp/index.js';

/**
 * A conversation's kind as content-policy rules name it (`ContentPolicyRule.conversationKinds`).
 *
 * @example
 * const rule = { policy: emailPolicy({ action: 'redact' }), conversationKinds: ['business'] satisfies ConversationKind[] }
 */
export type ConversationKind = 'business' | 'customer' | 'staff';

/** @internal What the gate needs from its device. */
export interface ContentPolicyGateContext {
  /** This device's identity and its kind (`customer`, `sender`, `agent`, `bot`). */
  readonly self: { readonly identityId: string; readonly kind: string | undefined };
  /** The conversation's members now. */
  members(conversationId: string): readonly MemberRef[];
  /** A device's kind as the verified key log shows it (undefined when the log does not show it). */
  deviceKind(member: MemberRef): Promise<string | undefined>;
}

/** @internal The device's content policies, changeable at run time (`Device.setContentPolicies`). */
export class ContentPolicyGate {
  private config: ContentPolicyConfig | undefined;

  constructor(
    private readonly ctx: ContentPolicyGateContext,
    config: ContentPolicyConfig | undefined,
  ) {
    this.set(config);
  }

  /** Replaces the policies (validated first: `InvalidArgumentError`); undefined turns them off. */
  set(config: ContentPolicyConfig | undefined): void {
    if (config !== undefined) validateContentPolicyConfig(config);
    this.config = config;
  }

  get active(): boolean {
    return this.config !== undefined && this.config.rules.length > 0;
  }

  /**
   * Runs the send-side policies: the text to encrypt (redacted where a policy redacted) and the
   * outcomes to record; `ContentBlockedError` when a policy blocks (nothing was encrypted or sent).
   */
  async onSend(
    conversation: string | { readonly kind: ConversationKind },
    text: string,
    messageClass: string,
    attachments: readonly AttachmentRef[] | undefined,
  ): Promise<{ text: string; dlp: readonly DlpOutcome[] }> {
    if (!this.active) return { text, dlp: [] };
    const pass = assertAllowed(await this.run('send', conversation, text, messageClass, attachments));
    return { text: pass.text, dlp: pass.outcomes };
  }

  /** Runs the receive-side policies on a decrypted message (the caller decides what a block means). */
  async onReceive(conversationId: string, text: string, messageClass: string, attachments: readonly AttachmentRef[] | undefined): Promise<ContentPolicyResult | undefined> {
    if (!this.active) return undefined;
    return this.run('receive', conversationId, text, messageClass, attachments);
  }

  private async run(
    direction: ContentDirection,
    conversation: string | { readonly kind: ConversationKind },
    text: string,
    messageClass: string,
    attachments: readonly AttachmentRef[] | undefined,
  ): Promise<ContentPolicyResult> {
    return applyContentPolicies(this.config, {
      text,
      class: messageClass,
      conversationKind: typeof conversation === 'string' ? await this.kindOf(conversation) : conversation.kind,
      direction,
      attachments: (attachments ?? []).map((a) => ({ mime: a.mime, size: a.size, ...(a.name !== undefined ? { name: a.name } : {}) })),
    });
  }

  /** `business` when customers and business devices share it, `customer` or `staff` when only one side does. */
  async kindOf(conversationId: string): Promise<ConversationKind> {
    const kinds = new Set<string | undefined>([this.ctx.self.kind]);
    for (const member of this.ctx.members(conversationId)) {
      if (member.identityId === this.ctx.self.identityId) continue;
      kinds.add(await this.ctx.deviceKind(member));
    }
    const customers = kinds.has('customer');
    const business = [...kinds].some((k) => k !== undefined && k !== 'customer');
    return customers && business ? 'business' : customers ? 'customer' : 'staff';
  }
}

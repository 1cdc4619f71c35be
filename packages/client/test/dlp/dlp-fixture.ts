/** Shared helpers of the DLP tests: a message input and running one policy on a text. */
import type { ContentInput, ContentPolicy, PolicyDecision } from '../../src/dlp/policy.js';

export function input(text: string, overrides: Partial<ContentInput> = {}): ContentInput {
  return { text, class: 'support', conversationKind: 'business', direction: 'send', attachments: [], ...overrides };
}

/** A policy's decision on `text` (the built-in ones are synchronous). */
export async function decide(policy: ContentPolicy, text: string): Promise<PolicyDecision> {
  return policy.check(input(text), new AbortController().signal);
}

/** The matched substrings, for readable assertions. */
export function matched(text: string, spans: readonly { start: number; end: number }[]): string[] {
  return spans.map((s) => text.slice(s.start, s.end));
}

/**
 * Keywords and patterns chosen by the host. Keywords match whole words, case-insensitively and
 * Unicode-aware (a word boundary is any letter, digit, mark or `_` of any script; spaces inside a
 * keyword match any run of white space); the text is compared in NFC, so a redacted text comes
 * back NFC-normalised. Patterns are cloned (their `g`/`y` state is never touched) and must not
 * match the empty string nor repeat a group with a repetition inside (regex-safety.ts).
 */
import { isSafeReason, policyIdentity, type ContentPolicy, type PolicyAction, type PolicyDecision } from '../policy.js';
import { replaceSpans, type TextSpan } from '../spans.js';
import { InvalidArgumentError } from '../../errors.js';
import { charAfter, charBefore, isWordChar } from '../text-boundaries.js';
import { hasNestedRepetition } from './regex-safety.js';

/**
 * Options of `keywordPolicy` (at least one keyword or pattern).
 *
 * @example
 * const options: KeywordPolicyOptions = { id: 'insider', action: 'block', keywords: ['project falcon'], reason: 'mentions a confidential project' }
 */
export interface KeywordPolicyOptions {
  /** Required: there is no default id for a host's own list. */
  readonly id: string;
  readonly action: PolicyAction;
  readonly keywords?: readonly string[];
  readonly patterns?: readonly RegExp[];
  /** Block reason (default 'contains a blocked keyword'). */
  readonly reason?: string;
  /** What replaces each match when redacting (default '[redacted]'). */
  readonly replacement?: string;
}

const WORD_END = '(?![\\p{L}\\p{N}\\p{M}_])';

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** One case-insensitive, Unicode expression for all keywords, longest first; the end boundary is a lookahead. */
function keywordExpression(keywords: readonly string[]): RegExp | undefined {
  if (keywords.length === 0) return undefined;
  const words = keywords.map((keyword, i) => {
    const word = typeof keyword === 'string' ? keyword.normalize('NFC').trim() : '';
    if (word.length === 0 || word.length > 200) throw new InvalidArgumentError(`keywords[${i}]`, 'a non-empty word or phrase of at most 200 characters');
    return word;
  });
  const alternatives = [...new Set(words)]
    .sort((a, b) => b.length - a.length)
    .map((word) => word.split(/\s+/u).map(escapeRegExp).join('\\s+') + (isWordChar(charBefore(word, word.length)) ? WORD_END : ''));
  return new RegExp(`(?:${alternatives.join('|')})`, 'giu');
}

function clonePattern(pattern: RegExp, i: number): RegExp {
  if (!(pattern instanceof RegExp)) throw new InvalidArgumentError(`patterns[${i}]`, 'a RegExp');
  if (hasNestedRepetition(pattern.source)) throw new InvalidArgumentError(`patterns[${i}]`, 'a repeated group with a repetition inside can backtrack catastrophically');
  const clone = new RegExp(pattern.source, `${pattern.flags.replace(/[gy]/g, '')}g`);
  if (new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).test('')) throw new InvalidArgumentError(`patterns[${i}]`, 'must not match the empty string');
  return clone;
}

/** The index of the code point after the one at `index`. */
function nextIndex(text: string, index: number): number {
  const code = text.codePointAt(index);
  return index + (code !== undefined && code > 0xffff ? 2 : 1);
}

/** Non-empty matches of `expression` (global); with `wholeWords`, a match starting with a word character must not follow one. */
function spansOf(expression: RegExp, text: string, wholeWords: boolean): TextSpan[] {
  const spans: TextSpan[] = [];
  expression.lastIndex = 0;
  for (let m = expression.exec(text); m !== null; m = expression.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    const midWord = wholeWords && isWordChar(charAfter(m[0], 0)) && isWordChar(charBefore(text, start));
    if (end === start || midWord) {
      expression.lastIndex = nextIndex(text, start);
      continue;
    }
    spans.push({ start, end });
  }
  return spans;
}

/**
 * A host's keyword / pattern policy: `block` with its reason, or `redact` each match to `replacement`.
 *
 * @example
 * const rule = { policy: keywordPolicy({ id: 'secrets', action: 'redact', keywords: ['password'], patterns: [/\bTCK-\d{6}\b/] }) }
 */
export function keywordPolicy(options: KeywordPolicyOptions): ContentPolicy {
  if (typeof options.id !== 'string') throw new InvalidArgumentError('id', 'keywordPolicy needs an id');
  const { id, action } = policyIdentity(options, options.id);
  const reason = options.reason ?? 'contains a blocked keyword';
  if (!isSafeReason(reason)) throw new InvalidArgumentError('reason', 'a fixed phrase of 1–200 characters, without an @ or a run of 4 digits');
  const replacement = options.replacement ?? '[redacted]';
  if (typeof replacement !== 'string' || replacement.length > 100) throw new InvalidArgumentError('replacement', 'a string of at most 100 characters');
  const keywords = keywordExpression(options.keywords ?? []);
  const patterns = (options.patterns ?? []).map(clonePattern);
  if (keywords === undefined && patterns.length === 0) throw new InvalidArgumentError('keywords', 'give at least one keyword or pattern');
  const find = (text: string): TextSpan[] => [
    ...(keywords === undefined ? [] : spansOf(keywords, text, true)),
    ...patterns.flatMap((pattern) => spansOf(pattern, text, false)),
  ];
  return {
    id,
    check(input): PolicyDecision {
      const text = input.text.normalize('NFC');
      const spans = find(text);
      if (spans.length === 0) return { action: 'allow' };
      if (action === 'block') return { action: 'block', reason };
      return { action: 'redact', text: replaceSpans(text, spans, () => replacement) };
    },
  };
}

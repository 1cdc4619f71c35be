/**
 * Boundaries of a match in a text, by code point (a letter outside the BMP is one character):
 * the built-in finders check them in code, not with lookbehind (not in older Safari).
 */

const WORD_CHAR = /^[\p{L}\p{N}\p{M}_]$/u;

/**
 * The code point that ends just before `index` ('' at the start).
 *
 * @example
 * charBefore('a😀b', 3) // '😀'
 */
export function charBefore(text: string, index: number): string {
  if (index <= 0) return '';
  const low = text.charCodeAt(index - 1);
  if (index >= 2 && low >= 0xdc00 && low <= 0xdfff) {
    const high = text.charCodeAt(index - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.slice(index - 2, index);
  }
  return text.slice(index - 1, index);
}

/**
 * The code point that starts at `index` ('' at the end).
 *
 * @example
 * charAfter('a😀b', 1) // '😀'
 */
export function charAfter(text: string, index: number): string {
  const code = text.codePointAt(index);
  return code === undefined ? '' : String.fromCodePoint(code);
}

/**
 * True for a letter, a digit (any script), a combining mark or `_`.
 *
 * @example
 * isWordChar('é') // true
 * isWordChar('-') // false
 */
export function isWordChar(char: string): boolean {
  return WORD_CHAR.test(char);
}

/**
 * True for an ASCII digit 0–9.
 *
 * @example
 * isDigit('7') // true
 */
export function isDigit(char: string | undefined): boolean {
  return char !== undefined && char.length === 1 && char >= '0' && char <= '9';
}

/**
 * True when the text just before `index` continues a number: a digit, `+`, or a separator or
 * decimal mark (`space - . , /`) right after a digit. A match starting there is part of a longer
 * number (an amount, a date, the tail of a longer reference), not a thing of its own.
 *
 * @example
 * continuesNumber('12 345', 3) // true
 * continuesNumber('no. 345', 4) // false
 */
export function continuesNumber(text: string, index: number): boolean {
  const before = text[index - 1];
  if (before === undefined) return false;
  if (isDigit(before) || before === '+') return true;
  return ' -.,/'.includes(before) && isDigit(text[index - 2]);
}

/**
 * True when the text right after `end` continues a number: a digit, or a decimal mark or
 * separator (`. , - /`) followed by a digit.
 *
 * @example
 * numberContinues('4111.50', 4) // true
 */
export function numberContinues(text: string, end: number): boolean {
  const after = text[end];
  if (after === undefined) return false;
  if (isDigit(after)) return true;
  return '.,-/'.includes(after) && isDigit(text[end + 1]);
}

/**
 * A static check against the most common catastrophic-backtracking shape in a host's patterns:
 * a repeated group that itself contains a variable repetition — `(a+)+`, `(\w+\s?)*`,
 * `(?:x|y+){2,}`. Other super-linear patterns (overlapping alternatives such as `(a|a)*`,
 * adjacent overlapping repetitions `\d+\d+$`) are not detected; a synchronous policy cannot be
 * interrupted by the engine's time budget (the budget only discards a late answer), so keep
 * patterns simple and anchored on literal text.
 */

interface Quantifier {
  readonly length: number;
  /** Repeats a variable number of times (`*`, `+`, `{n,}`, `{n,m}` with m > n). */
  readonly variable: boolean;
}

const NONE: Quantifier = { length: 0, variable: false };

function quantifierAt(source: string, at: number): Quantifier {
  const c = source[at];
  const lazy = (length: number): number => (source[at + length] === '?' ? length + 1 : length);
  if (c === '*' || c === '+') return { length: lazy(1), variable: true };
  if (c === '?') return { length: lazy(1), variable: false };
  const braces = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(at, at + 24));
  if (braces === null) return NONE;
  const min = Number(braces[1]);
  const max = braces[2] === undefined ? min : braces[3] === '' ? Infinity : Number(braces[3]);
  return { length: lazy(braces[0].length), variable: max > min };
}

/** The index just after the character class that starts at `at` (`[`). */
function classEnd(source: string, at: number): number {
  let i = at + 1;
  while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
  return i + 1;
}

/**
 * True when a regular expression source has a variably repeated group containing a variable repetition.
 *
 * @example
 * hasNestedRepetition('(a+)+$') // true
 * hasNestedRepetition('\\bIBAN\\s*[A-Z]{2}\\d{2}') // false
 */
export function hasNestedRepetition(source: string): boolean {
  const groups: boolean[] = [false];
  const markTop = (): void => {
    groups[groups.length - 1] = true;
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c === '(') {
      groups.push(false);
      i++;
      continue;
    }
    let inner = false;
    if (c === ')') {
      inner = groups.length > 1 ? (groups.pop() ?? false) : false;
      i++;
    } else if (c === '[') {
      i = classEnd(source, i);
    } else {
      i += c === '\\' ? 2 : 1;
    }
    const q = quantifierAt(source, i);
    if (inner && q.variable) return true;
    if (inner || q.variable) markTop();
    i += q.length;
  }
  return false;
}

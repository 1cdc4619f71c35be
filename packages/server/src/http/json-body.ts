/**
 * The JSON body parser: Fastify's own (secure-json-parse: `__proto__` and
 * `constructor.prototype` keys are refused), plus two rules for every body of every route:
 *
 * - no string may contain U+0000. PostgreSQL cannot store it in `text` or `jsonb`
 *   (SQLSTATE 22021 / 22P05), and no Parley field needs it (bytes travel as base64), so
 *   it is refused at the door as `400 invalid_string` instead of reaching a query as a 500;
 * - nesting is at most {@link MAX_JSON_DEPTH} levels (`400 invalid_json`). Parsing deep
 *   nesting costs about a microsecond per level on the event loop: a 4 MiB body of `[`
 *   would hold every request of the node for seconds. Parley's bodies nest a few levels.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidInputError } from '@parley/core';

/** `\u0000` as a JSON escape, not preceded by an odd number of backslashes (`\\u0000` is text, not NUL). */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/i;

/** True when JSON text holds a string with U+0000 (raw NUL bytes are not JSON at all). */
export function jsonHasNul(text: string): boolean {
  return text.includes('\\u0000') && NUL_ESCAPE.test(text);
}

/** Deepest nesting of arrays and objects a JSON body or frame may have. */
export const MAX_JSON_DEPTH = 64;

/**
 * True when JSON text nests arrays/objects deeper than `max`: one linear pass that jumps
 * over strings with indexOf (a megabyte of base64 costs one native scan). Malformed text
 * is left to JSON.parse.
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // To the closing quote: one preceded by an even number of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end < 0) return false;
        let backslashes = 0;
        for (let j = end - 1; j > i && text.charCodeAt(j) === 0x5c; j--) backslashes++;
        i = end;
        if (backslashes % 2 === 0) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonHasNul(text)) {
      done(new InvalidInputError('strings must not contain U+0000', { code: 'invalid_string' }), undefined);
      return;
    }
    if (jsonTooDeep(text)) {
      done(new InvalidInputError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, { code: 'invalid_json' }), undefined);
      return;
    }
    void parse(request, text, done);
  });
}

/**
 * Console sessions (table `console_sessions`, migration 019). The cookie carries a random
 * 32-byte token (base64url); the database keeps only its SHA-256, so every node accepts the
 * session and a copy of the table opens none. Each session has its own random CSRF token, an
 * idle expiry (each use pushes it on) and an absolute one. A disabled operator's sessions
 * stop at once (deleted with the disabling, and the lookup joins on the operator).
 */
import { createHash, randomBytes } from 'node:crypto';
import { UnauthorizedError } from '@parley/core';
import type { Sql } from '../storage/database.js';
import type { OperatorRef, OperatorRole } from './operators.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'parley_console';
/** The cookie's path: the page and its API, nothing else of the server. */
export const SESSION_COOKIE_PATH = '/console';
const TOKEN_BYTES = 32;
/** 32 bytes in unpadded base64url. */
const TOKEN_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** A live session, as a request sees it. */
export interface ConsoleSession {
  readonly operator: OperatorRef;
  readonly csrfToken: string;
  /** When it ends if unused (the idle expiry, capped by the absolute one), ISO 8601. */
  readonly expiresAt: string;
}

/** A session just opened: the cookie's token goes to the browser once and is never stored. */
export interface OpenedSession {
  readonly token: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
}

export interface SessionLifetimes {
  /** Unused this long, a session ends. */
  readonly idleSeconds: number;
  /** This long after login, a session ends. */
  readonly maxSeconds: number;
}

const hashOf = (token: string) => new Uint8Array(createHash('sha256').update(Buffer.from(token, 'base64url')).digest());
const required = () => new UnauthorizedError('console_session_required', 'log in to the console first');

/**
 * Console sessions in the database.
 *
 * @example
 * const sessions = new ConsoleSessions(db, { idleSeconds: 1800, maxSeconds: 43_200 });
 * const { token, csrfToken } = await sessions.open(operator.id);
 * const session = await sessions.verify(token); // 401 console_session_expired once idle
 */
export class ConsoleSessions {
  constructor(
    private readonly db: Sql,
    readonly lifetimes: SessionLifetimes,
  ) {}

  /**
   * Opens a session for operator `operatorId` (and drops the expired sessions of everyone).
   *
   * @example
   * const opened = await sessions.open('op_…');
   */
  async open(operatorId: string): Promise<OpenedSession> {
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const csrfToken = randomBytes(TOKEN_BYTES).toString('base64url');
    const { idleSeconds, maxSeconds } = this.lifetimes;
    await this.db.query("DELETE FROM console_sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1::float8 * interval '1 second'", [idleSeconds]);
    const [row] = await this.db.query<{ expires_at: Date | string }>(
      `INSERT INTO console_sessions (token_hash, operator_id, csrf_token, expires_at)
       VALUES ($1, $2, $3, now() + $4::float8 * interval '1 second')
       RETURNING least(expires_at, now() + $5::float8 * interval '1 second') AS expires_at`,
      [hashOf(token), operatorId, csrfToken, maxSeconds, idleSeconds],
    );
    return { token, csrfToken, expiresAt: new Date(row!.expires_at).toISOString() };
  }

  /**
   * The live session of cookie token `token`, its idle expiry pushed on; 401
   * `console_session_required` (no such session, a disabled operator) or
   * `console_session_expired` (idle or past its absolute expiry; the row is deleted).
   *
   * @example
   * const { operator, csrfToken } = await sessions.verify(cookieToken);
   */
  async verify(token: string | undefined): Promise<ConsoleSession> {
    if (token === undefined || !TOKEN_TEXT.test(token)) throw required();
    const hash = hashOf(token);
    const { idleSeconds } = this.lifetimes;
    const [row] = await this.db.query<{ id: string; name: string; role: OperatorRole; csrf_token: string; expires_at: Date | string }>(
      `UPDATE console_sessions s SET last_seen_at = now()
         FROM operators o
        WHERE s.token_hash = $1 AND o.id = s.operator_id AND o.disabled_at IS NULL
          AND s.expires_at > now() AND s.last_seen_at > now() - $2::float8 * interval '1 second'
        RETURNING o.id, o.name, o.role, s.csrf_token, least(s.expires_at, now() + $2::float8 * interval '1 second') AS expires_at`,
      [hash, idleSeconds],
    );
    if (row) return { operator: { id: row.id, name: row.name, role: row.role }, csrfToken: row.csrf_token, expiresAt: new Date(row.expires_at).toISOString() };
    // Not live: expired (say so, and forget it), or its operator disabled, or no such session.
    const [stale] = await this.db.query<{ expired: boolean }>(
      `DELETE FROM console_sessions WHERE token_hash = $1
       RETURNING (expires_at <= now() OR last_seen_at <= now() - $2::float8 * interval '1 second') AS expired`,
      [hash, idleSeconds],
    );
    if (stale?.expired === true) throw new UnauthorizedError('console_session_expired', 'the console session expired: log in again');
    throw required();
  }

  /**
   * Ends the session of cookie token `token` (nothing when there is none).
   *
   * @example
   * await sessions.end(cookieToken);
   */
  async end(token: string | undefined): Promise<void> {
    if (token === undefined || !TOKEN_TEXT.test(token)) return;
    await this.db.query('DELETE FROM console_sessions WHERE token_hash = $1', [hashOf(token)]);
  }
}

/**
 * The value of cookie `name` in a `Cookie` header (the first one that is set), or undefined.
 *
 * @example
 * cookieValue('a=1; parley_console=abc', 'parley_console') // 'abc'
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      if (value !== '') return value;
    }
  }
  return undefined;
}

/**
 * The `Set-Cookie` value of a session cookie (`token` undefined: one that deletes it):
 * HttpOnly, SameSite=Strict, Path=/console, and Secure when `secure`.
 *
 * @example
 * reply.header('set-cookie', sessionCookie(opened.token, { secure: request.protocol === 'https', maxAgeSeconds: 43_200 }));
 */
export function sessionCookie(token: string | undefined, options: { secure: boolean; maxAgeSeconds: number }): string {
  const parts = [`${SESSION_COOKIE}=${token ?? ''}`, `Path=${SESSION_COOKIE_PATH}`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${token === undefined ? 0 : Math.floor(options.maxAgeSeconds)}`];
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

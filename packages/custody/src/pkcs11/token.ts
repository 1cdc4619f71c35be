/**
 * A logged-in session pool on one PKCS#11 token: finds the slot by the URI's token
 * attributes, logs in as the user (CKU_USER), finds objects by label, id and class, and
 * runs operations one at a time per session (a PKCS#11 session is not concurrent: an
 * operation begun by C_SignInit must finish before the next). Closing ends the sessions
 * (the login ends with the application's last session) and releases the module.
 */
import { randomBytes } from 'node:crypto';
import { CustodyError } from '../errors.js';
import { acquireModule, ckrOf, pkcs11Failure, type Handle, type ModuleRef, type Pkcs11, type Pkcs11Binding } from './module.js';
import { resolveModulePath, resolvePin } from './pin.js';
import { describePkcs11Uri, type Pkcs11Uri } from './uri.js';

/** CKF_TOKEN_INITIALIZED (PKCS#11 3.0 §3.2, CK_TOKEN_INFO flags). */
const CKF_TOKEN_INITIALIZED = 0x00000400;
/** Return values worth another try when opening (not for signing or unwrapping: those fail closed). */
const TRANSIENT = new Set(['CKR_GENERAL_ERROR', 'CKR_DEVICE_ERROR', 'CKR_FUNCTION_FAILED', 'CKR_SESSION_COUNT', 'CKR_TOKEN_NOT_PRESENT']);
const LOGIN_FAILURES = new Set(['CKR_PIN_INCORRECT', 'CKR_PIN_INVALID', 'CKR_PIN_LEN_RANGE', 'CKR_PIN_EXPIRED', 'CKR_PIN_LOCKED', 'CKR_USER_PIN_NOT_INITIALIZED']);

/** One attribute of a search or creation template (pkcs11js's shape). */
export type TemplateAttribute = { type: number; value?: number | boolean | string | Buffer };

/** What an operation receives: the module, its constants and a session of its own. */
export interface SessionContext {
  readonly pkcs11: Pkcs11;
  readonly ck: Pkcs11Binding;
  readonly session: Handle;
}

/** What {@link TokenSession.open} needs besides the URI. */
export interface TokenSessionOptions {
  /** Sessions in the pool (default 1): operations beyond that many wait their turn. */
  readonly sessions?: number;
  /** Environment for PARLEY_PKCS11_PIN / PARLEY_PKCS11_MODULE (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

function trimPadded(value: string): string {
  return value.replace(/[ \0]+$/, '');
}

function slotNumber(slot: Handle): number {
  return slot.length >= 8 ? Number(slot.readBigUInt64LE(0)) : slot.readUInt32LE(0);
}

/**
 * @example
 * const token = await TokenSession.open(parsePkcs11Uri('pkcs11:token=parley'))
 * const handles = await token.run(({ pkcs11, session }) => findObjects(token, session, [{ type: ck.CKA_LABEL, value: 'k' }]))
 * await token.close()
 */
export class TokenSession {
  readonly uri: Pkcs11Uri;
  /** The token's label and serial, as the token reports them. */
  readonly tokenLabel: string;
  readonly serial: string;
  readonly #module: ModuleRef;
  readonly #sessions: Handle[];
  readonly #free: Handle[];
  readonly #waiters: ((session: Handle) => void)[] = [];
  #closed = false;

  private constructor(uri: Pkcs11Uri, module: ModuleRef, sessions: Handle[], tokenLabel: string, serial: string) {
    this.uri = uri;
    this.#module = module;
    this.#sessions = sessions;
    this.#free = [...sessions];
    this.tokenLabel = tokenLabel;
    this.serial = serial;
  }

  /** The module's constants (CKA_*, CKO_*, CKM_*…). */
  get ck(): Pkcs11Binding {
    return this.#module.binding;
  }

  /**
   * Opens `sessions` read-write sessions on the one token the URI names and logs in.
   * Errors: `pkcs11_token_not_found`, `pkcs11_token_ambiguous`, `pkcs11_pin_*`,
   * `pkcs11_login_failed` (never with the PIN), `pkcs11_module_failed`, `pkcs11_unavailable`.
   */
  static async open(uri: Pkcs11Uri, options: TokenSessionOptions = {}): Promise<TokenSession> {
    const env = options.env ?? process.env;
    const modulePath = resolveModulePath(uri, env);
    const pin = await resolvePin(uri, env);
    // A token shared by several processes (SoftHSM2's file store, an HSM cluster) can fail an
    // open transiently while another process writes to it: a few tries, then the failure.
    for (let attempt = 1; ; attempt++) {
      try {
        return TokenSession.#openOnce(uri, options, modulePath, pin);
      } catch (error) {
        const ckr = error instanceof CustodyError ? (error.details?.['ckr'] as string | undefined) : undefined;
        // SoftHSM2 may briefly not list a token whose files another process is rewriting.
        const transient = (ckr !== undefined && TRANSIENT.has(ckr)) || (error instanceof CustodyError && error.code === 'pkcs11_token_not_found');
        if (attempt >= 4 || !transient) throw error;
        await new Promise((r) => setTimeout(r, 20 * attempt + randomBytes(1)[0]! / 4));
      }
    }
  }

  static #openOnce(uri: Pkcs11Uri, options: TokenSessionOptions, modulePath: string, pin: string): TokenSession {
    const module = acquireModule(modulePath);
    const sessions: Handle[] = [];
    const { pkcs11, binding: ck } = module;
    let step = 'C_GetSlotList';
    try {
      const { slot, label, serial } = findSlot(pkcs11, uri, modulePath);
      const count = Math.max(1, Math.min(options.sessions ?? 1, 64));
      step = 'C_OpenSession';
      for (let i = 0; i < count; i++) sessions.push(pkcs11.C_OpenSession(slot, ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION));
      step = 'C_Login';
      try {
        pkcs11.C_Login(sessions[0]!, ck.CKU_USER, pin);
      } catch (error) {
        const ckr = ckrOf(error);
        if (ckr !== 'CKR_USER_ALREADY_LOGGED_IN') {
          if (ckr !== undefined && LOGIN_FAILURES.has(ckr)) {
            throw new CustodyError('pkcs11_login_failed', `the token ${describePkcs11Uri(uri)} refused the user PIN (${ckr})`, { details: { ckr } });
          }
          throw pkcs11Failure('C_Login', error);
        }
      }
      return new TokenSession(uri, module, sessions, label, serial);
    } catch (error) {
      for (const s of sessions) {
        try {
          pkcs11.C_CloseSession(s);
        } catch {
          // closing what could not be used
        }
      }
      module.release();
      throw error instanceof CustodyError ? error : pkcs11Failure(step, error);
    }
  }

  /**
   * Runs `operation` on a session of its own (waiting for a free one): one PKCS#11
   * operation at a time per session. Operations turn their PKCS#11 failures into
   * `pkcs11_failed` with the CKR_ name (`pkcs11Failure`); `custody_closed` after {@link close}.
   */
  async run<T>(operation: (context: SessionContext) => T | Promise<T>): Promise<T> {
    if (this.#closed) throw new CustodyError('custody_closed', 'the token session is closed');
    const session = this.#free.pop() ?? (await new Promise<Handle>((resolve) => this.#waiters.push(resolve)));
    try {
      if (this.#closed) throw new CustodyError('custody_closed', 'the token session is closed');
      return await operation({ pkcs11: this.#module.pkcs11, ck: this.#module.binding, session });
    } finally {
      const next = this.#waiters.shift();
      if (next) next(session);
      else this.#free.push(session);
    }
  }

  /** Handles of the objects matching `template` (at most `max`). Call inside {@link run}. */
  findObjects(context: SessionContext, template: TemplateAttribute[], max = 16): Handle[] {
    const { pkcs11, session } = context;
    try {
      pkcs11.C_FindObjectsInit(session, template);
      try {
        return pkcs11.C_FindObjects(session, max);
      } finally {
        pkcs11.C_FindObjectsFinal(session);
      }
    } catch (error) {
      throw pkcs11Failure('C_FindObjects', error);
    }
  }

  /** Reads attributes (those the token refuses to reveal throw `pkcs11_failed`, e.g. CKR_ATTRIBUTE_SENSITIVE). */
  attributes(context: SessionContext, object: Handle, types: number[]): Map<number, Buffer> {
    try {
      const result = context.pkcs11.C_GetAttributeValue(context.session, object, types.map((type) => ({ type })));
      return new Map(result.map((a) => [a.type, a.value]));
    } catch (error) {
      throw pkcs11Failure('C_GetAttributeValue', error);
    }
  }

  /** Ends every session and releases the module (idempotent); operations in flight finish first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    // Wait for the pool to be whole again, then close.
    while (this.#free.length < this.#sessions.length) await new Promise((r) => setTimeout(r, 5));
    this.#closed = true;
    for (const s of this.#sessions) {
      try {
        this.#module.pkcs11.C_CloseSession(s);
      } catch {
        // the module may already be finalised
      }
    }
    this.#module.release();
  }
}

function findSlot(pkcs11: Pkcs11, uri: Pkcs11Uri, modulePath: string): { slot: Handle; label: string; serial: string } {
  let info;
  try {
    info = pkcs11.C_GetInfo();
  } catch (error) {
    throw pkcs11Failure('C_GetInfo', error);
  }
  const libraryMatches =
    (uri.libraryManufacturer === undefined || trimPadded(info.manufacturerID) === uri.libraryManufacturer) &&
    (uri.libraryDescription === undefined || trimPadded(info.libraryDescription) === uri.libraryDescription) &&
    (uri.libraryVersion === undefined || (info.libraryVersion.major === uri.libraryVersion.major && info.libraryVersion.minor === uri.libraryVersion.minor));
  const matches: { slot: Handle; label: string; serial: string }[] = [];
  if (libraryMatches) {
    let slots: Handle[];
    try {
      slots = pkcs11.C_GetSlotList(true);
    } catch (error) {
      throw pkcs11Failure('C_GetSlotList', error);
    }
    for (const slot of slots) {
      if (uri.slotId !== undefined && slotNumber(slot) !== uri.slotId) continue;
      const token = pkcs11.C_GetTokenInfo(slot);
      if ((token.flags & CKF_TOKEN_INITIALIZED) === 0) continue;
      const label = trimPadded(token.label);
      const serial = trimPadded(token.serialNumber);
      if (uri.token !== undefined && label !== uri.token) continue;
      if (uri.serial !== undefined && serial !== uri.serial) continue;
      if (uri.manufacturer !== undefined && trimPadded(token.manufacturerID) !== uri.manufacturer) continue;
      if (uri.model !== undefined && trimPadded(token.model) !== uri.model) continue;
      if (uri.slotDescription !== undefined || uri.slotManufacturer !== undefined) {
        const s = pkcs11.C_GetSlotInfo(slot);
        if (uri.slotDescription !== undefined && trimPadded(s.slotDescription) !== uri.slotDescription) continue;
        if (uri.slotManufacturer !== undefined && trimPadded(s.manufacturerID) !== uri.slotManufacturer) continue;
      }
      matches.push({ slot, label, serial });
    }
  }
  const what = describePkcs11Uri({ ...uri, object: undefined, id: undefined });
  if (matches.length === 0) throw new CustodyError('pkcs11_token_not_found', `no initialised token matches ${what} in ${modulePath}`, { details: { token: what, module: modulePath } });
  if (matches.length > 1) throw new CustodyError('pkcs11_token_ambiguous', `${matches.length} tokens match ${what}: name one (token=…, serial=…)`, { details: { token: what } });
  return matches[0]!;
}

/**
 * Destroys an object, retrying transient failures (a token shared by several processes);
 * an object already gone counts as destroyed.
 *
 * @example
 * await destroyObject(token, handle)
 */
export async function destroyObject(token: TokenSession, handle: Handle): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await token.run(({ pkcs11, session }) => pkcs11.C_DestroyObject(session, handle));
      return;
    } catch (error) {
      const ckr = ckrOf(error);
      if (ckr === 'CKR_OBJECT_HANDLE_INVALID') return;
      if (attempt >= 5) throw pkcs11Failure('C_DestroyObject', error);
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

function isTransientCreateFailure(error: unknown): boolean {
  if (!(error instanceof CustodyError) || error.code !== 'pkcs11_failed') return false;
  const ckr = (error.details as { ckr?: string } | undefined)?.ckr;
  return ckr === 'CKR_GENERAL_ERROR' || ckr === 'CKR_DEVICE_ERROR' || ckr === 'CKR_SESSION_HANDLE_INVALID';
}

/** An object {@link findOrCreate} made: its handle and how to take it back. */
export interface CreatedObject {
  readonly handle: Handle;
  destroy(): Promise<void>;
}

/**
 * Finds the one object `find` returns, creating it with `create` when there is none, so
 * that several nodes racing on one token end with ONE object. PKCS#11 has no
 * create-if-absent, so: every racer looks again after a short pause (tokens shared by several
 * processes show new objects late); when several objects carry the label, the one with the
 * smallest CKA_ID (`idOf`; random at creation) stays and every other creator destroys its
 * own; a racer returns only an object it saw alone twice, a pause apart. Never returns one
 * of several: when several stay, `pkcs11_key_ambiguous`.
 *
 * @example
 * const { handle, created } = await findOrCreate(find, create, idOf, 'parley-wrap')
 */
export async function findOrCreate(
  find: () => Promise<Handle[]>,
  create: () => Promise<CreatedObject>,
  idOf: (handle: Handle) => Promise<string>,
  label: string,
): Promise<{ handle: Handle; created: boolean }> {
  const pause = (attempt: number) => new Promise((r) => setTimeout(r, 40 + Math.min(attempt, 5) * 30 + randomBytes(1)[0]! / 2));
  let ours: CreatedObject | undefined;
  for (let attempt = 0; attempt < 12; attempt++) {
    const first = await find();
    if (first.length === 0 && ours === undefined) {
      try {
        ours = await create();
      } catch (error) {
        // A token busy with another racer's write (SoftHSM2 answers CKR_GENERAL_ERROR when
        // several sessions generate at once) is no reason to fail: look again after a pause.
        if (!isTransientCreateFailure(error) || attempt === 11) throw error;
        await pause(attempt);
        continue;
      }
    }
    await pause(attempt);
    const seen = await find();
    if (seen.length === 1 && (first.length <= 1 || ours !== undefined)) {
      const only = seen[0]!;
      if (first.length === 1 && !first[0]!.equals(only)) continue; // it changed under us: look again
      return { handle: only, created: ours !== undefined && ours.handle.equals(only) };
    }
    if (seen.length > 1 && ours !== undefined && seen.some((h) => h.equals(ours!.handle))) {
      const ids = await Promise.all(seen.map(async (h) => ({ h, id: await idOf(h) })));
      const keep = ids.reduce((a, b) => (b.id < a.id ? b : a));
      if (!keep.h.equals(ours.handle)) {
        await ours.destroy();
        ours = undefined;
      }
    }
  }
  throw new CustodyError('pkcs11_key_ambiguous', `several objects are labelled ${label} in the token: remove all but one (refusing to pick one silently)`, { details: { object: label } });
}

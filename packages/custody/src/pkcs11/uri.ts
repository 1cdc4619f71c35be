/**
 * PKCS#11 URIs (RFC 7512): `pkcs11:<path attributes>[?<query attributes>]`, e.g.
 * `pkcs11:token=parley;object=parley-tlog-keys?pin-source=file:/etc/parley/pin`.
 *
 * Path attributes (`;`-separated, each at most once): token, manufacturer, serial, model,
 * library-manufacturer, library-description, library-version, object, type, id (raw bytes,
 * pct-encoded), slot-description, slot-manufacturer, slot-id, and vendor attributes (names
 * with `-` or `_` that are not standard; kept, never matched on). Query attributes
 * (`&`-separated): module-path, module-name, pin-source (`file:` only here) — and
 * pin-value, which is refused (`pkcs11_pin_inline`): a PIN is never written inline, where
 * shell history, process lists and logs would keep it. Values are pct-decoded (RFC 3986
 * §2.1) and must be UTF-8 (except `id`). Anything else is `pkcs11_bad_uri`.
 */
import { CustodyError } from '../errors.js';

/** Object classes a `type` attribute names (RFC 7512 §2.3). */
export type Pkcs11ObjectType = 'public' | 'private' | 'cert' | 'secret-key' | 'data';

/**
 * A parsed PKCS#11 URI. Absent attributes match anything.
 *
 * @example
 * const uri: Pkcs11Uri = parsePkcs11Uri('pkcs11:token=parley;object=parley-wrap')
 */
export interface Pkcs11Uri {
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly libraryManufacturer?: string;
  readonly libraryDescription?: string;
  /** `M` or `M.N`. */
  readonly libraryVersion?: { readonly major: number; readonly minor: number };
  readonly object?: string;
  readonly type?: Pkcs11ObjectType;
  /** CKA_ID, raw bytes. */
  readonly id?: Uint8Array;
  readonly slotDescription?: string;
  readonly slotManufacturer?: string;
  readonly slotId?: number;
  readonly modulePath?: string;
  readonly moduleName?: string;
  /** Absolute path of the PIN file (from `pin-source=file:…`). */
  readonly pinFile?: string;
  /** Vendor-specific path and query attributes, decoded; ignored when matching. */
  readonly vendor: Readonly<Record<string, string>>;
}

const PATH_NAMES: Record<string, keyof Pkcs11Uri> = {
  token: 'token',
  manufacturer: 'manufacturer',
  serial: 'serial',
  model: 'model',
  'library-manufacturer': 'libraryManufacturer',
  'library-description': 'libraryDescription',
  'library-version': 'libraryVersion',
  object: 'object',
  type: 'type',
  id: 'id',
  'slot-description': 'slotDescription',
  'slot-manufacturer': 'slotManufacturer',
  'slot-id': 'slotId',
};
const QUERY_NAMES: Record<string, keyof Pkcs11Uri> = { 'module-path': 'modulePath', 'module-name': 'moduleName', 'pin-source': 'pinFile' };
const TYPES: readonly string[] = ['public', 'private', 'cert', 'secret-key', 'data'];

/** RFC 7512 pk11-pchar (path) and pk11-qchar (query), with their separators (`;`, `&`): unreserved, the allowed specials, pct-encoded triplets. */
const PATH_CHARS = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=&;]|%[0-9A-Fa-f]{2})*$/;
const QUERY_CHARS = /^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=/?|&]|%[0-9A-Fa-f]{2})*$/;
const VENDOR_NAME = /^[A-Za-z0-9_-]*[-_][A-Za-z0-9_-]*$/;

function bad(reason: string, attribute?: string): CustodyError {
  // The URI itself is never echoed: it may carry a pin-value.
  return new CustodyError('pkcs11_bad_uri', `not a usable PKCS#11 URI (RFC 7512): ${reason}`, { details: { reason, ...(attribute ? { attribute } : {}) } });
}

function pctBytes(value: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(value.charCodeAt(i));
    }
  }
  return Uint8Array.from(out);
}

function pctText(value: string, attribute: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(pctBytes(value));
  } catch {
    throw bad('a value is not UTF-8', attribute);
  }
}

function parsePinSource(value: string): string {
  // Only a local file: `file:/abs/path` or `file:///abs/path` (RFC 8089). No programs, no remote files.
  const m = /^file:(?:\/\/(?:localhost)?)?(\/.*)$/.exec(value);
  if (!m || m[1]!.includes('\0')) throw bad('pin-source must be file:/absolute/path', 'pin-source');
  return m[1]!;
}

/**
 * Parses a PKCS#11 URI (RFC 7512). Refuses `pin-value` (`pkcs11_pin_inline`) and anything
 * malformed (`pkcs11_bad_uri`, with the reason and attribute name, never the URI).
 *
 * @example
 * parsePkcs11Uri('pkcs11:token=parley;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/parley/pin')
 * // { token: 'parley', id: Uint8Array [1, 2], modulePath: '/usr/lib/softhsm/libsofthsm2.so', pinFile: '/etc/parley/pin', vendor: {} }
 */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (typeof text !== 'string' || text.length > 4096) throw bad('not a string of at most 4096 characters');
  if (!text.toLowerCase().startsWith('pkcs11:')) throw bad('the scheme must be pkcs11:');
  const rest = text.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  if (!PATH_CHARS.test(path)) throw bad('a character in the path is not allowed (pct-encode it)');
  if (!QUERY_CHARS.test(query)) throw bad('a character in the query is not allowed (pct-encode it)');
  const out: Record<string, unknown> = {};
  const vendor: Record<string, string> = {};
  const seen = new Set<string>();
  const take = (part: string, names: Record<string, keyof Pkcs11Uri>, isQuery: boolean): void => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`an attribute is not name=value`);
    const name = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    if (name === 'pin-value' && isQuery) {
      throw new CustodyError('pkcs11_pin_inline', 'a PKCS#11 URI with pin-value is refused: never inline a PIN; use pin-source=file:/path (mode 0600) or PARLEY_PKCS11_PIN');
    }
    if (seen.has(name)) throw bad('an attribute appears twice', name);
    seen.add(name);
    const key = names[name];
    if (key === undefined) {
      if (!VENDOR_NAME.test(name) || PATH_NAMES[name] !== undefined || QUERY_NAMES[name] !== undefined || name === 'pin-value') {
        throw bad('unknown attribute', name.slice(0, 40));
      }
      vendor[name] = pctText(raw, name);
      return;
    }
    switch (key) {
      case 'id':
        out[key] = pctBytes(raw);
        return;
      case 'slotId': {
        const value = pctText(raw, name);
        if (!/^[0-9]{1,20}$/.test(value) || !Number.isSafeInteger(Number(value))) throw bad('slot-id must be a decimal number', name);
        out[key] = Number(value);
        return;
      }
      case 'libraryVersion': {
        const m = /^([0-9]{1,5})(?:\.([0-9]{1,5}))?$/.exec(pctText(raw, name));
        if (!m) throw bad('library-version must be M or M.N', name);
        out[key] = { major: Number(m[1]), minor: Number(m[2] ?? 0) };
        return;
      }
      case 'type': {
        const value = pctText(raw, name);
        if (!TYPES.includes(value)) throw bad('type must be public, private, cert, secret-key or data', name);
        out[key] = value;
        return;
      }
      case 'pinFile':
        out[key] = parsePinSource(pctText(raw, name));
        return;
      default:
        out[key] = pctText(raw, name);
    }
  };
  if (path !== '') for (const part of path.split(';')) take(part, PATH_NAMES, false);
  if (query !== '') for (const part of query.split('&')) take(part, QUERY_NAMES, true);
  if (out['modulePath'] !== undefined && !String(out['modulePath']).startsWith('/')) throw bad('module-path must be an absolute path', 'module-path');
  return Object.freeze({ ...(out as Omit<Pkcs11Uri, 'vendor'>), vendor: Object.freeze(vendor) });
}

function pctEncode(value: string | Uint8Array, all = false): string {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += !all && /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return out;
}

/**
 * The URI's token and object attributes as text, without the query (no module path, no PIN
 * source): what logs and errors may show.
 *
 * @example
 * describePkcs11Uri(parsePkcs11Uri('pkcs11:token=parley?pin-source=file:/etc/pin'), 'parley-wrap') // 'pkcs11:token=parley;object=parley-wrap'
 */
export function describePkcs11Uri(uri: Pkcs11Uri, object?: string): string {
  const parts: string[] = [];
  if (uri.token !== undefined) parts.push(`token=${pctEncode(uri.token)}`);
  if (uri.serial !== undefined) parts.push(`serial=${pctEncode(uri.serial)}`);
  if (uri.slotId !== undefined) parts.push(`slot-id=${uri.slotId}`);
  const label = object ?? uri.object;
  if (label !== undefined) parts.push(`object=${pctEncode(label)}`);
  if (uri.id !== undefined && object === undefined) parts.push(`id=${pctEncode(uri.id, true)}`);
  return `pkcs11:${parts.join(';')}`;
}

/**
 * PKCS#11 URIs (RFC 7512): the RFC's own examples (§7) parse to what they say; pin-value is
 * refused; PIN files must be 0600 or stricter; the module path and PIN come from the URI or
 * the environment.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustodyError, DEFAULT_PKCS11_MODULE, describePkcs11Uri, parsePkcs11Uri, resolveModulePath, resolvePin } from '@parley/custody';

const bytes = (...b: number[]) => Uint8Array.from(b);

describe('parsePkcs11Uri: RFC 7512 §7 examples', () => {
  it('pkcs11: (any token, any object)', () => {
    expect(parsePkcs11Uri('pkcs11:')).toEqual({ vendor: {} });
  });
  it('object and type', () => {
    expect(parsePkcs11Uri('pkcs11:object=my-pubkey;type=public')).toEqual({ object: 'my-pubkey', type: 'public', vendor: {} });
  });
  it('a PIN source', () => {
    expect(parsePkcs11Uri('pkcs11:object=my-key;type=private?pin-source=file:/etc/token')).toEqual({ object: 'my-key', type: 'private', pinFile: '/etc/token', vendor: {} });
  });
  it('pct-encoded token, manufacturer, id bytes and an empty serial', () => {
    const uri = parsePkcs11Uri(
      'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin',
    );
    expect(uri).toEqual({
      token: 'The Software PKCS#11 Softtoken',
      manufacturer: 'Snake Oil, Inc.',
      model: '1.0',
      object: 'my-certificate',
      type: 'cert',
      id: bytes(0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91),
      serial: '',
      pinFile: '/etc/token_pin',
      vendor: {},
    });
  });
  it('module-path (module-name parses, but is not used to load a module)', () => {
    expect(parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1')).toMatchObject({ modulePath: '/mnt/libmypkcs11.so.1' });
    const named = parsePkcs11Uri('pkcs11:object=my-sign-key;type=private?module-name=mypkcs11');
    expect(named.moduleName).toBe('mypkcs11');
    expect(() => resolveModulePath(named, {})).toThrow(expect.objectContaining({ code: 'pkcs11_bad_uri' }) as Error);
  });
  it('pin-value is refused, never echoed', () => {
    const text = 'pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin';
    let caught: unknown;
    try {
      parsePkcs11Uri(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(CustodyError);
    expect(caught).toMatchObject({ code: 'pkcs11_pin_inline' });
    expect(JSON.stringify({ m: (caught as Error).message, d: (caught as CustodyError).details })).not.toContain('the-pin');
  });
  it('slot and library attributes', () => {
    expect(parsePkcs11Uri('pkcs11:slot-description=Sun%20Metaslot')).toEqual({ slotDescription: 'Sun Metaslot', vendor: {} });
    expect(parsePkcs11Uri('pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23')).toEqual({
      libraryManufacturer: 'Snake Oil, Inc.',
      libraryDescription: 'Soft Token Library',
      libraryVersion: { major: 1, minor: 23 },
      vendor: {},
    });
    expect(parsePkcs11Uri('pkcs11:slot-id=407087473;slot-manufacturer=SoftHSM%20project')).toEqual({ slotId: 407087473, slotManufacturer: 'SoftHSM project', vendor: {} });
  });
  it('a pct-encoded % and ; in a value, mixed-case hex in id', () => {
    expect(parsePkcs11Uri('pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%fe;object=my-certificate;type=cert')).toEqual({
      token: 'My token% created by Joe',
      libraryVersion: { major: 3, minor: 0 },
      id: bytes(0x01, 0x02, 0x03, 0xba, 0xdd, 0xef, 0xfe),
      object: 'my-certificate',
      type: 'cert',
      vendor: {},
    });
    expect(parsePkcs11Uri('pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert').token).toBe('A name with a substring %;');
  });
  it('UTF-8 in a value', () => {
    expect(parsePkcs11Uri('pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert').token).toBe('Name with a small A with acute: á');
  });
  it('vendor attributes are kept, not matched', () => {
    expect(parsePkcs11Uri('pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin&vendor-bbb=value-b')).toEqual({
      token: 'my-token',
      object: 'my-certificate',
      type: 'cert',
      pinFile: '/etc/token_pin',
      vendor: { 'vendor-aaa': 'value-a', 'vendor-bbb': 'value-b' },
    });
  });
});

describe('parsePkcs11Uri refuses', () => {
  it.each([
    ['another scheme', 'pkcs12:token=x'],
    ['a repeated attribute', 'pkcs11:token=a;token=b'],
    ['an unknown standard-looking attribute (a typo)', 'pkcs11:tokn=parley'],
    ['a bad type', 'pkcs11:type=secret'],
    ['a non-numeric slot-id', 'pkcs11:slot-id=abc'],
    ['a raw space', 'pkcs11:token=a b'],
    ['a bad pct-encoding', 'pkcs11:token=%zz'],
    ['invalid UTF-8', 'pkcs11:token=%C3'],
    ['a PIN from a program', 'pkcs11:token=x?pin-source=|/bin/get-pin'],
    ['a relative PIN file', 'pkcs11:token=x?pin-source=file:pin.txt'],
    ['a relative module path', 'pkcs11:token=x?module-path=lib.so'],
    ['an attribute without =', 'pkcs11:token'],
  ])('%s', (_what, text) => {
    expect(() => parsePkcs11Uri(text)).toThrow(expect.objectContaining({ code: 'pkcs11_bad_uri' }) as Error);
  });
});

describe('describePkcs11Uri', () => {
  it('shows token and object, never the query', () => {
    expect(describePkcs11Uri(parsePkcs11Uri('pkcs11:token=parley%20hsm?pin-source=file:/etc/pin&module-path=/x.so'), 'parley-wrap')).toBe('pkcs11:token=parley%20hsm;object=parley-wrap');
  });
});

describe('PIN and module', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-pin-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a 0600 PIN file (one trailing newline dropped)', async () => {
    const file = join(dir, 'ok.pin');
    await writeFile(file, '12 34\n', { mode: 0o600 });
    expect(await resolvePin(parsePkcs11Uri(`pkcs11:token=x?pin-source=file:${file}`), {})).toBe('12 34');
    expect(await resolvePin(parsePkcs11Uri(`pkcs11:token=x?pin-source=file://${file}`), {})).toBe('12 34');
  });
  it('refuses a PIN file others can read, without the PIN in the error', async () => {
    const file = join(dir, 'open.pin');
    await writeFile(file, 'secret-pin-4711\n');
    await chmod(file, 0o644);
    const error = await resolvePin(parsePkcs11Uri(`pkcs11:token=x?pin-source=file:${file}`), {}).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'pkcs11_pin_file_insecure' });
    expect(JSON.stringify({ m: (error as Error).message, d: (error as CustodyError).details })).not.toContain('secret-pin-4711');
  });
  it('a missing PIN file, the environment, no PIN at all', async () => {
    await expect(resolvePin(parsePkcs11Uri(`pkcs11:token=x?pin-source=file:${join(dir, 'none')}`), {})).rejects.toMatchObject({ code: 'pkcs11_pin_file_unreadable' });
    expect(await resolvePin(parsePkcs11Uri('pkcs11:token=x'), { PARLEY_PKCS11_PIN: '9876' })).toBe('9876');
    await expect(resolvePin(parsePkcs11Uri('pkcs11:token=x'), {})).rejects.toMatchObject({ code: 'pkcs11_pin_missing' });
  });
  it('module: URI, then PARLEY_PKCS11_MODULE, then the default', () => {
    expect(resolveModulePath(parsePkcs11Uri('pkcs11:?module-path=/opt/hsm/lib.so'), { PARLEY_PKCS11_MODULE: '/other.so' })).toBe('/opt/hsm/lib.so');
    expect(resolveModulePath(parsePkcs11Uri('pkcs11:'), { PARLEY_PKCS11_MODULE: '/other.so' })).toBe('/other.so');
    expect(resolveModulePath(parsePkcs11Uri('pkcs11:'), {})).toBe(DEFAULT_PKCS11_MODULE);
  });
});

/** The codec of values between a Node test and the Chromium test page (browser-page.ts). */
/**
 * Values crossing from the Node test to the page and back exactly as typed: bytes stay
 * Uint8Array, `undefined` stays undefined (the KeyStore contract passes wrong types on purpose).
 */
export type Wire = { t: 'u8'; b: number[] } | { t: 'undefined' } | { t: 'array'; items: Wire[] } | { t: 'object'; entries: [string, Wire][] } | { t: 'plain'; v: string | number | boolean | null };

/** @internal Encodes a value for the trip (see `Wire`). */
export function toWire(value: unknown): Wire {
  if (value instanceof Uint8Array) return { t: 'u8', b: Array.from(value) };
  if (value === undefined) return { t: 'undefined' };
  if (Array.isArray(value)) return { t: 'array', items: value.map(toWire) };
  if (typeof value === 'object' && value !== null) return { t: 'object', entries: Object.entries(value).map(([k, v]) => [k, toWire(v)]) };
  return { t: 'plain', v: value as string | number | boolean | null };
}

/** @internal Decodes a `Wire` value. */
export function fromWire(wire: Wire): unknown {
  switch (wire.t) {
    case 'u8':
      return Uint8Array.from(wire.b);
    case 'undefined':
      return undefined;
    case 'array':
      return wire.items.map(fromWire);
    case 'object':
      return Object.fromEntries(wire.entries.map(([k, v]) => [k, fromWire(v)]));
    case 'plain':
      return wire.v;
  }
}

/** Test helpers for key-log replay tests: a directory key and entries it attests. */
import { generateIdentityKeyPair, signEd25519, toBase64Url } from '../../src/index.js';
import { attestationMessage, type KeyLogEntry } from '../../src/keylog/index.js';

export type Pair = ReturnType<typeof generateIdentityKeyPair>;
/** An entry before the directory attests it (Omit, distributed over the union). */
export type Unattested = KeyLogEntry extends infer E ? (E extends KeyLogEntry ? Omit<E, 'attestation'> : never) : never;

/** A directory key and the attesting of entries with it. */
export function directoryAttester(): { readonly directory: Pair; attest(entry: Unattested): KeyLogEntry } {
  const directory = generateIdentityKeyPair();
  return {
    directory,
    attest(entry) {
      const draft = { ...entry, attestation: 'A'.repeat(86) } as KeyLogEntry;
      return { ...draft, attestation: toBase64Url(signEd25519(directory.privateKey, attestationMessage(draft))) } as KeyLogEntry;
    },
  };
}

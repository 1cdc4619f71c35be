/**
 * Transparency-log library: RFC 6962/9162 Merkle proofs, C2SP tlog-tiles, tlog-checkpoint
 * and signed-note. Browser-safe (Uint8Array only, no Node APIs); one engine for the key log
 * and the audit log.
 *
 * merkle.ts          RFC 6962 §2.1 tree hashing
 * verify-proofs.ts   RFC 9162 inclusion and consistency proof verification
 * stored-hashes.ts   the server's stored-hash numbering and the hashes to persist per append
 * stored-proofs.ts   tree hashes and proofs from stored hashes
 * tiles.ts           tlog-tiles coordinates and paths
 * tile-math.ts       which tiles a tree has, and hashes from tiles
 * entry-bundle.ts    tlog-tiles entry bundles
 * tile-reader.ts     TileHashReader: authenticated stored hashes read from tiles
 * checkpoint.ts      tlog-checkpoint text
 * note.ts            signed-note keys, signing and verification
 * key-rotation.ts    log-key rotation announcements (signed by the old and the new key)
 */
export { HASH_SIZE, leafHash, nodeHash, emptyRoot, rootOfLeaves } from './merkle.js';
export { verifyInclusion, verifyConsistency } from './verify-proofs.js';
export {
  type ReadHashes,
  storedHashIndex,
  splitStoredHashIndex,
  storedHashCount,
  storedHashes,
  storedHashesForRecordHash,
} from './stored-hashes.js';
export { treeHash, proveRecord, proveTree } from './stored-proofs.js';
export {
  TILE_HEIGHT,
  TILE_WIDTH,
  MAX_TILE_LEVEL,
  type Tile,
  type TilePathInfo,
  tilePath,
  entryBundlePath,
  parseTilePath,
} from './tiles.js';
export { MAX_ENTRY_SIZE, encodeEntryBundle, decodeEntryBundle } from './entry-bundle.js';
export {
  tileAt,
  newTiles,
  tilesForTreeSize,
  tileStoredHashIndexes,
  tileFromStoredHashes,
  tileForStoredHashIndex,
  hashFromTile,
} from './tile-math.js';
export { type FetchTile, type TileHashReaderOptions, TileHashReader } from './tile-reader.js';
export { type Checkpoint, formatCheckpoint, parseCheckpoint } from './checkpoint.js';
export {
  NOTE_ALG_ED25519,
  NOTE_MAX_SIGNATURES,
  NOTE_MAX_BYTES,
  type NoteVerifier,
  type Ed25519NoteVerifier,
  type Signer,
  type LocalSigner,
  type PublicKeyOf,
  type VerifiedSignature,
  type OpenedNote,
  noteKeyHash,
  verifierKeyFromPublicKey,
  parseVerifierKey,
  parseSignerKey,
  generateSignerKey,
  signNote,
  openNote,
} from './note.js';
export {
  KEY_ROTATION_HEADER,
  type KeyRotation,
  type VerifiedKeyRotation,
  type KeyRotationStep,
  formatKeyRotation,
  parseKeyRotation,
  signKeyRotation,
  openKeyRotation,
  splitKeyRotations,
  followKeyRotations,
} from './key-rotation.js';

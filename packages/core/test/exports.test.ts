/**
 * The public surface of the subpaths whose modules were split by concern: `@parley/core/mls`,
 * `/tlog` and `/audit` export exactly these values (and, checked by the compiler, these types).
 * A change here is a change of the package API.
 */
import { describe, expect, it } from 'vitest';
import * as audit from '../src/audit/index.js';
import * as mls from '../src/mls/index.js';
import * as tlog from '../src/tlog/index.js';
import type {
  AuthenticateMember,
  CommitOutput,
  CryptoProvider,
  GroupMember,
  KeyPackageBundle,
  KeyPackageInfo,
  KeyPackageSecret,
  MemberRef,
  MlsSuite,
  ProcessResult,
  SignatureKeyPair,
  SuiteName,
  WireInfo,
  WireKind,
} from '../src/mls/index.js';
import type { Checkpoint, FetchTile, ReadHashes, Tile, TileHashReaderOptions, TilePathInfo } from '../src/tlog/index.js';
import type {
  EvidenceCheck,
  EvidenceFailureCode,
  EvidenceMessage,
  EvidenceReceiptSummary,
  EvidenceReport,
  EvidenceReveal,
  EvidenceTrust,
} from '../src/audit/index.js';

// Referencing every type keeps the type imports above checked by `tsc` (and used).
export type PublicTypes = [
  AuthenticateMember,
  CommitOutput,
  CryptoProvider,
  GroupMember,
  KeyPackageBundle,
  KeyPackageInfo,
  KeyPackageSecret,
  MemberRef,
  MlsSuite,
  ProcessResult,
  SignatureKeyPair,
  SuiteName,
  WireInfo,
  WireKind,
  Checkpoint,
  FetchTile,
  ReadHashes,
  Tile,
  TileHashReaderOptions,
  TilePathInfo,
  EvidenceCheck,
  EvidenceFailureCode,
  EvidenceMessage,
  EvidenceReceiptSummary,
  EvidenceReport,
  EvidenceReveal,
  EvidenceTrust,
];

describe('public exports', () => {
  it('@parley/core/mls', () => {
    expect(Object.keys(mls).sort()).toEqual(
      [
        'DEFAULT_SUITE',
        'MlsGroup',
        'SUITES',
        'commitChanges',
        'createGroup',
        'createKeyPackage',
        'credentialIdentity',
        'decodeGroup',
        'decodeGroupParts',
        'encodeGroup',
        'encodeGroupParts',
        'encryptApplication',
        'exportGroupInfo',
        'generateSignatureKeyPair',
        'inspectKeyPackage',
        'inspectMessage',
        'joinFromWelcome',
        'loadSuite',
        'memberFromCredentialIdentity',
        'processIncoming',
        'rejoinExternally',
      ].sort(),
    );
  });

  it('@parley/core/tlog', () => {
    expect(Object.keys(tlog).sort()).toEqual(
      [
        'HASH_SIZE',
        'MAX_ENTRY_SIZE',
        'MAX_TILE_LEVEL',
        'NOTE_ALG_ED25519',
        'NOTE_MAX_BYTES',
        'NOTE_MAX_SIGNATURES',
        'TILE_HEIGHT',
        'TILE_WIDTH',
        'TileHashReader',
        'decodeEntryBundle',
        'emptyRoot',
        'encodeEntryBundle',
        'entryBundlePath',
        'formatCheckpoint',
        'generateSignerKey',
        'hashFromTile',
        'leafHash',
        'newTiles',
        'nodeHash',
        'noteKeyHash',
        'openNote',
        'parseCheckpoint',
        'parseSignerKey',
        'parseTilePath',
        'parseVerifierKey',
        'proveRecord',
        'proveTree',
        'rootOfLeaves',
        'signNote',
        'splitStoredHashIndex',
        'storedHashCount',
        'storedHashIndex',
        'storedHashes',
        'storedHashesForRecordHash',
        'tileAt',
        'tileForStoredHashIndex',
        'tileFromStoredHashes',
        'tilePath',
        'tileStoredHashIndexes',
        'tilesForTreeSize',
        'treeHash',
        'verifierKeyFromPublicKey',
        'verifyConsistency',
        'verifyInclusion',
      ].sort(),
    );
  });

  it('@parley/core/audit', () => {
    expect(Object.keys(audit).sort()).toEqual(
      [
        'AuditEntrySchema',
        'AuditInclusionSchema',
        'CommitmentSchema',
        'EvidenceBundleSchema',
        'RECEIPT_STATUSES',
        'RFC3339_UTC',
        'ReceiptSchema',
        'commitmentBytes',
        'commitmentEntry',
        'commitmentHash',
        'commitmentSigningMessage',
        'contentCommitment',
        'decodeAuditEntry',
        'encodeAuditEntry',
        'newOpening',
        'opensCommitment',
        'parseCommitment',
        'parseEvidenceBundle',
        'parseReceipt',
        'receiptBytes',
        'receiptEntry',
        'receiptHash',
        'receiptSigningMessage',
        'signCommitment',
        'signReceipt',
        'verifyCommitmentSignature',
        'verifyEvidenceBundle',
        'verifyReceiptSignature',
      ].sort(),
    );
  });
});

/**
 * The database blob store on the test engine (PGlite, or PostgreSQL with
 * PARLEY_TEST_ENGINE=postgres): the shared contract with its real row size, and again with
 * 1000-byte rows so that every edge (a row filled across appends, a range ending on a row's
 * last byte, truncation inside a row) is crossed many times on small blobs.
 */
import { openTestDatabase } from '@parley/test-kit/server';
import { PgBlobStore, CHUNK_BYTES } from '../../src/blobs/pg-blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';

blobStoreContract(`database (${CHUNK_BYTES}-byte rows)`, async () => {
  const { db, close } = await openTestDatabase();
  return { store: new PgBlobStore(db), boundary: CHUNK_BYTES, close };
});

blobStoreContract('database (1000-byte rows)', async () => {
  const { db, close } = await openTestDatabase();
  return { store: new PgBlobStore(db, 1000), boundary: 1000, streamBytes: 8 * 1024 * 1024, close };
});

/**
 * `@parley/server/boot`: what `parley serve` needs before the server's modules load — checking
 * its flags the way the server will (origins, the OTLP endpoint) and opening the embedded
 * database early, so that PGlite boots on its worker thread while the main thread loads the
 * rest (issue 18: start-up). Nothing here imports the server's HTTP, relay or crypto modules.
 *
 * @example
 * const early = openEmbeddedDatabase(dataDir);
 * const { startServer } = await import('@parley/server');
 * const server = await startServer({ database: { kind: 'pglite', dataDir } }, { embedded: early });
 */
export { openEmbeddedDatabase, closeEmbeddedDatabase, type EmbeddedDatabase } from './storage/embedded-open.js';
export { normaliseOrigins } from './http/origins.js';
export { otlpTracesEndpoint } from './observability/tracing-endpoint.js';

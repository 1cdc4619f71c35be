/**
 * Test harness: a real server on loopback over a real database. The engine is
 * PGlite by default; PARLEY_TEST_ENGINE=postgres runs against PostgreSQL
 * (PARLEY_TEST_DATABASE_URL, default the machine's `test` database), each
 * server in a fresh schema that is dropped afterwards.
 */
import { basename, dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import {
  CLASSIC_SUITE,
  commitChanges,
  createGroup,
  createKeyPackage,
  generateSignatureKeyPair,
  loadSuite,
  type AuthenticateMember,
  type KeyPackageBundle,
  type MlsGroup,
  type MlsSuite,
  type SignatureKeyPair,
  type SuiteName,
} from '@parley/core/mls';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { suitesMessage } from '@parley/core/keylog';
import {
  generateIdentityKeyPair,
  newDeviceId,
  randomBytes,
  registrationProofMessage,
  sessionProofMessage,
  signEd25519,
  toBase64,
  toBase64Url,
  fromBase64,
  type DeviceId,
  type IdentityId,
  type IdentityKeyPair,
} from '@parley/core';
import { PgliteDatabase, PostgresDatabase, migrate, startServer, type Database, type ParleyServer, type ServerConfigInput } from '@parley/server';
import { TEST_ADMIN_TOKEN } from './privacy-markers.js';
import { openTelemetryCapture, type TelemetryCapture } from './telemetry.js';

export const ENGINE = (process.env['PARLEY_TEST_ENGINE'] ?? 'pglite') as 'pglite' | 'postgres';
export const DATABASE_URL = process.env['PARLEY_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ADMIN_TOKEN = TEST_ADMIN_TOKEN;

export interface TestServer {
  server: ParleyServer;
  url: string;
  /** Every log line the server wrote. */
  logs: string[];
  stop(): Promise<void>;
}

/** A fresh database on the selected engine (PostgreSQL: its own schema), migrated by `migrateWith` (default: the server's migrations). */
export async function openTestDatabase(migrateWith: (db: Database) => Promise<unknown> = migrate): Promise<{ db: Database; schema: string | undefined; close(): Promise<void> }> {
  if (ENGINE === 'postgres') {
    const schema = `t_${toBase64Url(randomBytes(9)).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
    const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
    await admin.exec(`CREATE SCHEMA ${schema}`);
    const db = new PostgresDatabase({ connectionString: DATABASE_URL, schema });
    await migrateWith(db);
    return {
      db,
      schema,
      async close() {
        await db.close();
        await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
        await admin.close();
      },
    };
  }
  const db = await PgliteDatabase.open();
  await migrateWith(db);
  return { db, schema: undefined, close: () => db.close() };
}

/** The last `/metrics` scrape of a running server, for the telemetry capture; undefined when it cannot be read. */
async function finalScrape(server: ParleyServer): Promise<string | undefined> {
  try {
    if (server.metricsUrl) return await (await fetch(`${server.metricsUrl}/metrics`)).text();
    const token = server.config.metrics.token ?? server.config.adminToken;
    if (token === undefined) return undefined;
    const res = await server.http.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
    return res.statusCode === 200 ? res.body : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A server on loopback for a test. With `PARLEY_TELEMETRY_DIR` set, its log lines and a last
 * metrics scrape go there too (telemetry.ts) for the privacy scan.
 *
 * @example
 * const t = await startTestServer();
 * await api(t.url, 'GET', '/healthz');
 * await t.stop();
 */
export async function startTestServer(overrides: ServerConfigInput = {}): Promise<TestServer> {
  const logs: string[] = [];
  const capture: TelemetryCapture | undefined = openTelemetryCapture();
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const lines = chunk.toString('utf8').split('\n').filter((l) => l.length > 0);
      logs.push(...lines);
      capture?.logLines(lines);
      cb();
    },
  });
  let schema: string | undefined;
  let database = overrides.database;
  if (!database) {
    if (ENGINE === 'postgres') {
      schema = `t_${toBase64Url(randomBytes(9)).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
      const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
      await admin.exec(`CREATE SCHEMA ${schema}`);
      await admin.close();
      database = { kind: 'postgres', url: DATABASE_URL, schema };
    } else {
      database = { kind: 'pglite' };
    }
  }
  // Under PARLEY_TELEMETRY_DIR spans go to spans-<pid>-<n>.jsonl beside the log file (tracing on
  // with the span file exporter); an explicit `tracing.fileExporterPath` override wins.
  const spanFile = capture ? join(dirname(capture.logFile), basename(capture.logFile).replace(/^logs-/, 'spans-')) : undefined;
  const tracing = spanFile !== undefined && !(overrides.tracing && 'fileExporterPath' in overrides.tracing) ? { ...overrides.tracing, fileExporterPath: spanFile } : overrides.tracing;
  const server = await startServer({
    adminToken: ADMIN_TOKEN,
    ...overrides,
    database,
    log: { level: 'debug', destination, ...overrides.log },
    ...(tracing ? { tracing } : {}),
  });
  return {
    server,
    url: server.url,
    logs,
    async stop() {
      if (capture) {
        const text = await finalScrape(server);
        if (text !== undefined) capture.metrics(text);
      }
      await server.stop();
      if (schema) {
        const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
        await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
        await admin.close();
      }
    },
  };
}

/**
 * One HTTP call to a test server; the body comes back parsed when it is JSON. Its type is
 * `any` on purpose: tests read error codes and fields of every response shape directly.
 */
export async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test convenience, see above
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A business with an Ed25519 enrollment key, registered on the server. */
export interface TestBusiness {
  id: string;
  kid: string;
  privateKey: CryptoKey;
  token(subject: string, claims?: Record<string, unknown>, lifetimeSeconds?: number): Promise<string>;
}

export async function createBusiness(url: string, id = `bank-${toBase64Url(randomBytes(4)).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`): Promise<TestBusiness> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = 'k1';
  const res = await api(url, 'POST', '/v1/admin/businesses', { id, name: 'Test Bank', enrollmentKeys: [{ kid, jwk }] }, ADMIN_TOKEN);
  if (res.status !== 201) throw new Error(`business: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    id,
    kid,
    privateKey,
    async token(subject, claims = {}, lifetimeSeconds = 300) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ kind: 'customer', ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid })
        .setIssuer(id)
        .setSubject(subject)
        .setAudience('parley')
        .setIssuedAt(now)
        .setExpirationTime(now + lifetimeSeconds)
        .setJti(toBase64Url(randomBytes(16)))
        .sign(privateKey);
    },
  };
}

let suitePromise: Promise<MlsSuite> | undefined;
export function suite(): Promise<MlsSuite> {
  suitePromise ??= loadSuite(undefined, nodeCryptoProvider);
  return suitePromise;
}

const namedSuites = new Map<SuiteName, Promise<MlsSuite>>();
/**
 * The named suite on node:crypto, loaded once (the classic one is {@link suite}'s).
 *
 * @example
 * const xwing = await suiteNamed(XWING_SUITE);
 */
export function suiteNamed(name: SuiteName): Promise<MlsSuite> {
  if (name === CLASSIC_SUITE) return suite();
  let loaded = namedSuites.get(name);
  if (!loaded) namedSuites.set(name, (loaded = loadSuite(name, nodeCryptoProvider)));
  return loaded;
}

/** A device registered through the raw HTTP API, with a session. */
export interface RawDevice {
  deviceId: DeviceId;
  identityId: IdentityId;
  identity: IdentityKeyPair;
  signature: SignatureKeyPair;
  /** Private halves of every KeyPackage uploaded: per suite, the one-time ones then the last-resort one. */
  keyPackages: KeyPackageBundle[];
  token: string;
  /** The suites the device stated (`options.suites`); absent: the classic suite only. */
  suites?: readonly SuiteName[];
}

/**
 * Registers a device over the raw HTTP API and opens its session. With `options.suites`
 * (classic first), it states them with their proof and uploads `keyPackages` one-time
 * KeyPackages and a last-resort one per suite; without, the classic suite only.
 *
 * @example
 * const alice = await registerRawDevice(url, business, 'alice', { suites: [CLASSIC_SUITE, XWING_SUITE] });
 */
export async function registerRawDevice(
  url: string,
  business: TestBusiness,
  subject: string,
  options: { kind?: string; keyPackages?: number; suites?: readonly SuiteName[] } = {},
): Promise<RawDevice> {
  const s = await suite();
  if (options.suites !== undefined && options.suites[0] !== s.name) throw new Error(`registerRawDevice: suites must start with ${s.name}`);
  const deviceId = newDeviceId();
  const identityId = `${business.id}:${subject}` as IdentityId;
  const identity = generateIdentityKeyPair();
  const signature = await generateSignatureKeyPair(s);
  const member = { identityId, deviceId };
  // One batch per suite: its one-time KeyPackages, then its last-resort one.
  const batches: { oneTime: KeyPackageBundle[]; lastResort: KeyPackageBundle }[] = [];
  for (const name of options.suites ?? [s.name]) {
    const loaded = await suiteNamed(name);
    const oneTime: KeyPackageBundle[] = [];
    for (let i = 0; i < (options.keyPackages ?? 3); i++) oneTime.push(await createKeyPackage(loaded, member, signature));
    batches.push({ oneTime, lastResort: await createKeyPackage(loaded, member, signature) });
  }
  const [first, ...others] = batches;
  const enrollmentToken = await business.token(subject, { kind: options.kind ?? 'customer' });
  const proof = signEd25519(
    identity.privateKey,
    registrationProofMessage({ enrollmentToken, deviceId, identityKey: identity.publicKey, signatureKey: signature.publicKey }),
  );
  const stated = options.suites
    ? {
        suites: options.suites,
        suitesProof: toBase64(
          signEd25519(identity.privateKey, suitesMessage({ deviceId, identityKey: toBase64Url(identity.publicKey), seq: 0, suites: options.suites })),
        ),
      }
    : {};
  const res = await api(url, 'POST', '/v1/devices', {
    enrollmentToken,
    deviceId,
    identityKey: toBase64(identity.publicKey),
    signatureKey: toBase64(signature.publicKey),
    suite: s.name,
    ...stated,
    keyPackages: batches.flatMap((b) => b.oneTime).map((k) => toBase64(k.keyPackage)),
    lastResortKeyPackage: toBase64(first!.lastResort.keyPackage),
    ...(others.length > 0 ? { lastResortKeyPackages: others.map((b) => toBase64(b.lastResort.keyPackage)) } : {}),
    proof: toBase64(proof),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  const token = await openSession(url, deviceId, identity);
  const keyPackages = batches.flatMap((b) => [...b.oneTime, b.lastResort]);
  return { deviceId, identityId, identity, signature, keyPackages, token, ...(options.suites ? { suites: options.suites } : {}) };
}

export async function openSession(url: string, deviceId: string, identity: IdentityKeyPair): Promise<string> {
  const ch = await api(url, 'POST', '/v1/auth/challenge', { deviceId });
  if (ch.status !== 200) throw new Error(`challenge: ${ch.status} ${JSON.stringify(ch.body)}`);
  const challenge = fromBase64(ch.body.challenge);
  const signature = signEd25519(identity.privateKey, sessionProofMessage({ deviceId, challenge }));
  const s = await api(url, 'POST', '/v1/auth/session', { deviceId, challenge: ch.body.challenge, signature: toBase64(signature) });
  if (s.status !== 200) throw new Error(`session: ${s.status} ${JSON.stringify(s.body)}`);
  return s.body.token as string;
}

const acceptAllMembers: AuthenticateMember = async () => true;

/**
 * A conversation of `owner` with one claimed KeyPackage of each of `members`: the commit and
 * Welcome submitted (idempotency key `create`). The owner's group and the submission's answer.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the answer is `api`'s, see there
export async function createRawGroup(url: string, owner: RawDevice, members: readonly RawDevice[]): Promise<{ group: MlsGroup; res: { status: number; body: any } }> {
  const s = await suite();
  const group = await createGroup(s, randomBytes(32), { identityId: owner.identityId, deviceId: owner.deviceId }, owner.signature, acceptAllMembers);
  const claim = await api(url, 'POST', '/v1/key-packages/claim', { deviceIds: members.map((m) => m.deviceId) }, owner.token);
  if (claim.status !== 200) throw new Error(`claiming KeyPackages: ${claim.status}`);
  const out = await commitChanges(s, group, { add: (claim.body.keyPackages as { keyPackage: string }[]).map((k) => fromBase64(k.keyPackage)) });
  const res = await api(
    url,
    'POST',
    '/v1/messages',
    {
      idempotencyKey: 'create',
      conversationId: group.conversationId,
      message: toBase64(out.commit),
      members: [owner.deviceId, ...members.map((m) => m.deviceId)],
      welcome: toBase64(out.welcome!),
      groupInfo: toBase64(out.groupInfo),
    },
    owner.token,
  );
  return { group: out.group, res };
}

/**
 * `parley gateway …`: the business's sending gateway.
 *   init   registers the business (or attaches to it), makes its keys, enrolls the sender identity
 *   (none) runs one gateway instance (several may share one PostgreSQL)
 *   keys   create | list | revoke the bank services' API keys
 *   rotate-sender-keys   has the leading instance rotate the sender's keys (docs/key-rotation.md)
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  DbKeyStore,
  KeyFileWrapper,
  createApiKey,
  initGateway,
  listApiKeys,
  loadDataKey,
  openGatewayDatabase,
  readWebhookSecrets,
  retireOldWebhookSecrets,
  revokeApiKey,
  requestSenderRotation,
  rotateWebhookSecret,
  senderRotationOutcome,
  startGateway,
  type KeyWrapper,
  type SenderKeyLabels,
} from '@parley/gateway';
import { Pkcs11KeyWrapper, Pkcs11Signer, parsePkcs11Uri } from '@parley/custody';
import { lockDataDir, type Database, type DataDirLock } from '@parley/server';
import { parseFlags, parseLogLevel, parsePort, parseServerUrl } from '../args.js';
import { parsePostQuantumFlags } from '../post-quantum-flag.js';
import { parseContentPolicyFlags } from '../content-policy-flag.js';
import { UsageError, jsonResult, type ExitCode } from '../errors.js';
import { loadRoutingConfig } from '../routing-config.js';
import { readSecretFile } from '../private-files.js';

const STORAGE_FLAGS = {
  'database-url': { type: 'string' },
  'database-schema': { type: 'string' },
  'data-dir': { type: 'string' },
  'key-file': { type: 'string' },
  signer: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** Label of the AES key in the business's token that wraps the data key (unless the URI names an object). */
export const GATEWAY_WRAP_KEY_LABEL = 'parley-gateway-wrap';

/** Labels of the sender's Ed25519 keys in the token with `--signer`: its identity key and its MLS signature key. */
export const GATEWAY_SENDER_KEY_LABELS = { identity: 'parley-gateway-identity', mls: 'parley-gateway-mls' } as const;

/**
 * The sender's two keys in the token (`create`: generated there when absent, at init and at a
 * rotation); `labels`: which pair (the initial one unless a rotation moved the sender). Closed with `close`.
 */
async function openSenderSigners(
  uri: string,
  create: boolean,
  labels: SenderKeyLabels = GATEWAY_SENDER_KEY_LABELS,
): Promise<{ identity: Pkcs11Signer; mls: Pkcs11Signer; close(): Promise<void> }> {
  const identity = await Pkcs11Signer.open(uri, { object: labels.identity, create });
  const mls = await Pkcs11Signer.open(uri, { object: labels.mls, create }).catch(async (error: unknown) => {
    await identity.close();
    throw error;
  });
  return { identity, mls, close: async () => void (await Promise.allSettled([identity.close(), mls.close()])) };
}

/**
 * @example
 * process.exitCode = await runGateway(['init', '--server', 'http://127.0.0.1:8080', '--business', 'example-bank', '--data-dir', '.parley/gateway'])
 */
export async function runGateway(argv: readonly string[]): Promise<ExitCode> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'init':
      return init(rest);
    case 'keys':
      return keys(rest);
    case 'secrets':
      return webhookSecrets(rest);
    case 'serve':
      return serve(rest);
    case 'rotate-sender-keys':
      return rotateSenderKeys(rest);
    default:
      // `parley gateway --database-url …` runs an instance.
      if (sub === undefined || sub.startsWith('--')) return serve(argv);
      throw new UsageError(`unknown gateway command '${sub}' (init, keys, secrets, rotate-sender-keys, or flags to run an instance)`);
  }
}

interface Storage {
  db: Database;
  /** The key file wrapping the data key, unless `signer` names a key in a PKCS#11 token. */
  keyFile: string;
  /** A PKCS#11 URI (RFC 7512): the data key is wrapped by an AES key in that token. */
  signer: string | undefined;
  where: string;
  /** Embedded PGlite: no other process can use the database while this one holds it. */
  embedded: boolean;
}

async function openStorage(flags: { 'database-url'?: string; 'database-schema'?: string; 'data-dir'?: string; 'key-file'?: string; signer?: string }): Promise<Storage> {
  const schema = flags['database-schema'];
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new UsageError('--database-schema must be a lower-case SQL identifier');
  const databaseUrl = flags['database-url'] ?? process.env['PARLEY_GATEWAY_DATABASE_URL'];
  if (flags['database-url'] && flags['data-dir']) throw new UsageError('use either --database-url or --data-dir');
  // Exactly one custody of the wrapping key: a key file, or a key in the business's HSM (the PIN from pin-source=file: or PARLEY_PKCS11_PIN).
  const signer = flags.signer ?? (process.env['PARLEY_GATEWAY_SIGNER'] || undefined);
  if (flags.signer !== undefined && flags['key-file'] !== undefined) throw new UsageError('use either --key-file FILE or --signer PKCS11_URI (the key that wraps the gateway’s data key), not both');
  if (databaseUrl) {
    if (!flags['key-file'] && signer === undefined) {
      throw new UsageError('with --database-url, pass --key-file FILE or --signer PKCS11_URI (the key that wraps the gateway’s data key; every instance needs it)');
    }
    return { db: await openGatewayDatabase({ databaseUrl, ...(schema ? { schema } : {}) }), keyFile: resolve(flags['key-file'] ?? ''), signer: flags['key-file'] ? undefined : signer, where: 'PostgreSQL', embedded: false };
  }
  const dataDir = resolve(flags['data-dir'] ?? '.parley/gateway');
  // Embedded PGlite is one process at a time: a second `parley gateway …` on the same directory
  // (an instance running, a `keys create` meanwhile) is refused with `data_dir_locked`.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = await lockDataDir(dataDir);
  const db = await openGatewayDatabase({ dataDir }).catch(async (error: unknown) => {
    await lock.release();
    throw error;
  });
  return { db: releasingOnClose(db, lock), keyFile: resolve(flags['key-file'] ?? join(dataDir, 'gateway.key')), signer: flags['key-file'] ? undefined : signer, where: `embedded PGlite at ${dataDir}`, embedded: true };
}

/** The database, whose `close()` also releases the data-directory lock. */
function releasingOnClose(db: Database, lock: DataDirLock): Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'close') return async () => target.close().finally(() => lock.release());
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The wrapping key: the key file, or the token's AES key (`create`: generated in the token when absent, at init). */
async function openKeyWrapper(storage: Storage, create: boolean): Promise<KeyWrapper & { close?(): Promise<void> }> {
  if (storage.signer === undefined) return KeyFileWrapper.load(storage.keyFile);
  return Pkcs11KeyWrapper.open(storage.signer, { create, ...objectOption(storage.signer) });
}

/** The URI's `object` names the business's own key (BYOK); otherwise the gateway's label. */
function objectOption(uri: string): { object?: string } {
  return parsePkcs11Uri(uri).object !== undefined ? {} : { object: GATEWAY_WRAP_KEY_LABEL };
}

async function init(argv: readonly string[]): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    ...STORAGE_FLAGS,
    server: { type: 'string' },
    business: { type: 'string' },
    name: { type: 'string' },
    'admin-token': { type: 'string' },
    'admin-token-file': { type: 'string' },
  });
  if (!flags.server || !flags.business) throw new UsageError('parley gateway init needs --server URL and --business ID');
  const server = parseServerUrl(flags.server, '--server');
  if (flags['admin-token'] !== undefined) process.stderr.write('warning: --admin-token on the command line is visible to other users of this machine; prefer --admin-token-file FILE or PARLEY_ADMIN_TOKEN\n');
  const adminToken = flags['admin-token'] ?? (flags['admin-token-file'] ? await readSecretFile(resolve(flags['admin-token-file']), 'admin token file') : process.env['PARLEY_ADMIN_TOKEN']);
  if (!adminToken) throw new UsageError('pass --admin-token-file FILE, --admin-token T or set PARLEY_ADMIN_TOKEN (the Parley operator’s token registers the business)');
  const admin = { token: adminToken };
  const storage = await openStorage(flags);
  try {
    let keyWrapper: KeyWrapper & { close?(): Promise<void> };
    let createdKey = false;
    if (storage.signer !== undefined) {
      const wrapper = await Pkcs11KeyWrapper.open(storage.signer, { create: true, ...objectOption(storage.signer) });
      keyWrapper = wrapper;
      createdKey = wrapper.created;
    } else {
      try {
        keyWrapper = await KeyFileWrapper.load(storage.keyFile);
      } catch (error) {
        if ((error as { code?: string }).code !== 'key_file_missing') throw error;
        keyWrapper = await KeyFileWrapper.create(storage.keyFile);
        createdKey = true;
      }
    }
    // With a token, the sender's identity and MLS signature keys are generated and kept in it too.
    const signers = storage.signer !== undefined ? await openSenderSigners(storage.signer, true) : undefined;
    const result = await initGateway({
      db: storage.db,
      keyWrapper,
      serverUrl: server,
      businessId: flags.business,
      adminToken: admin.token,
      ...(flags.name ? { businessName: flags.name } : {}),
      ...(signers ? { senderSigners: { identity: signers.identity, mls: signers.mls } } : {}),
    }).finally(async () => {
      await keyWrapper.close?.();
      await signers?.close();
    });
    const custody =
      storage.signer !== undefined
        ? { wrapKey: (keyWrapper as Pkcs11KeyWrapper).description, wrapKeyId: keyWrapper.id, wrapKeyCreated: createdKey }
        : { keyFile: storage.keyFile, keyFileCreated: createdKey };
    if (flags.json) {
      process.stdout.write(`${jsonResult({ ...result, ...custody })}\n`);
    } else {
      process.stdout.write(
        [
          `gateway initialized for ${result.businessId} (${result.attached ? 'attached to the existing business' : 'business registered'}; ${storage.where})`,
          `  enrollment key: ${result.kid}`,
          `  sender device:  ${result.senderDeviceId}`,
          storage.signer !== undefined
            ? `  wrapping key:   ${(keyWrapper as Pkcs11KeyWrapper).description} (${keyWrapper.id}${createdKey ? '; generated in the token: it never leaves it — back the token up' : ''})`
            : `  key file:       ${storage.keyFile}${createdKey ? ' (created: back it up; without it the gateway’s data cannot be opened)' : ''}`,
          `  webhook secret: ${result.webhookSecret}   (shown once: give it to your webhook receiver)`,
          `next: parley gateway keys create --label my-service …, then parley gateway --port 8090 …`,
          '',
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await storage.db.close();
  }
}

async function keys(argv: readonly string[]): Promise<ExitCode> {
  const [action, ...rest] = argv;
  const flags = parseFlags(rest.filter((a, i) => !(i === 0 && action === 'revoke' && !a.startsWith('--'))), { ...STORAGE_FLAGS, label: { type: 'string' } });
  // Usage first: nothing is created on disk for a command that cannot run.
  if (action !== 'create' && action !== 'list' && action !== 'revoke') throw new UsageError('parley gateway keys create|list|revoke');
  if (action === 'create' && !flags.label) throw new UsageError('parley gateway keys create needs --label NAME (which service uses the key)');
  if (action === 'revoke' && (!rest[0] || rest[0].startsWith('--'))) throw new UsageError('parley gateway keys revoke ID');
  const storage = await openStorage(flags);
  try {
    switch (action) {
      case 'create': {
        if (!flags.label) throw new UsageError('parley gateway keys create needs --label NAME (which service uses the key)');
        const { key, info } = await createApiKey(storage.db, flags.label);
        process.stdout.write(flags.json ? `${jsonResult({ ...info, key })}\n` : `API key ${info.id} (${info.label}):\n  ${key}\n(shown once; only its hash is kept)\n`);
        return 0;
      }
      case 'list': {
        const all = await listApiKeys(storage.db);
        if (flags.json) process.stdout.write(`${jsonResult({ keys: all })}\n`);
        else for (const k of all) process.stdout.write(`${k.id}  ${k.revokedAt ? 'revoked' : 'active '}  ${k.label}  created ${k.createdAt}${k.lastUsedAt ? `  last used ${k.lastUsedAt}` : ''}\n`);
        return 0;
      }
      case 'revoke': {
        const id = rest[0];
        if (!id || id.startsWith('--')) throw new UsageError('parley gateway keys revoke ID');
        const revoked = await revokeApiKey(storage.db, id);
        const failure = { error: { code: 'unknown_api_key', message: `no active API key ${id}` } };
        if (flags.json) process.stdout.write(`${jsonResult({ id, revoked, ...(revoked ? {} : failure) }, revoked)}\n`);
        else process.stdout.write(revoked ? `API key ${id} revoked\n` : `no active API key ${id}\n`);
        return revoked ? 0 : 1;
      }
      default:
        throw new UsageError('parley gateway keys create|list|revoke');
    }
  } finally {
    await storage.db.close();
  }
}

/** `parley gateway secrets rotate | retire-old | list`: the webhook signing secrets (every instance picks changes up within seconds). */
async function webhookSecrets(argv: readonly string[]): Promise<ExitCode> {
  const [action, ...rest] = argv;
  const flags = parseFlags(rest, STORAGE_FLAGS);
  const storage = await openStorage(flags);
  try {
    const wrapper = await openKeyWrapper(storage, false);
    const store = new DbKeyStore(storage.db, await loadDataKey(storage.db, wrapper).finally(() => wrapper.close?.()));
    switch (action) {
      case 'rotate': {
        const secret = await rotateWebhookSecret(store);
        process.stdout.write(flags.json ? `${jsonResult({ secret })}\n` : `new webhook secret (shown once; webhooks now carry a signature under it and under the older ones):\n  ${secret}\nwhen every receiver has it: parley gateway secrets retire-old\n`);
        return 0;
      }
      case 'retire-old': {
        const dropped = await retireOldWebhookSecrets(store);
        process.stdout.write(flags.json ? `${jsonResult({ dropped })}\n` : `${dropped} older webhook secret(s) retired\n`);
        return 0;
      }
      case 'list': {
        // Never the secrets themselves: how many, and a short fingerprint of each.
        const all = (await readWebhookSecrets(store)).map((s, i) => `${i === 0 ? 'newest' : 'older '} sha256:${createHash('sha256').update(s).digest('hex').slice(0, 16)}`);
        process.stdout.write(flags.json ? `${jsonResult({ secrets: all })}\n` : `${all.join('\n')}\n`);
        return 0;
      }
      default:
        throw new UsageError('parley gateway secrets rotate | retire-old | list');
    }
  } finally {
    await storage.db.close();
  }
}

/**
 * `parley gateway rotate-sender-keys [--timeout S]`: files the request; the instance holding the
 * sender lease rotates (sending paused meanwhile) and files the outcome, which this prints.
 */
async function rotateSenderKeys(argv: readonly string[]): Promise<ExitCode> {
  const flags = parseFlags(argv, { ...STORAGE_FLAGS, timeout: { type: 'string' } });
  const timeoutS = Number(flags.timeout ?? 120);
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 3600) throw new UsageError('--timeout: whole seconds (1–3600)');
  const storage = await openStorage(flags);
  try {
    // Keys in the token: the new pair is generated there first, under fresh labels; the leader moves the sender to it.
    let labels: SenderKeyLabels | undefined;
    if (storage.signer !== undefined) {
      const suffix = `${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`;
      labels = { identity: `${GATEWAY_SENDER_KEY_LABELS.identity}-${suffix}`, mls: `${GATEWAY_SENDER_KEY_LABELS.mls}-${suffix}` };
      await (await openSenderSigners(storage.signer, true, labels)).close();
    }
    const id = await requestSenderRotation(storage.db, labels);
    if (storage.embedded) {
      // Embedded PGlite: no instance runs now (it would hold the directory); the next one to start performs it.
      const message = 'rotation filed: the gateway performs it when it next starts on this directory';
      process.stdout.write(flags.json ? `${jsonResult({ id, filed: true, message })}\n` : `${message} (request ${id})\n`);
      return 0;
    }
    if (!flags.json) process.stderr.write('waiting for the instance that runs the sender to rotate its keys');
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const outcome = await senderRotationOutcome(storage.db, id);
      if (outcome) {
        if (!flags.json) process.stderr.write('\n');
        if (flags.json) process.stdout.write(`${JSON.stringify(outcome.ok ? outcome : { ...outcome, error: { code: outcome.code, message: outcome.message } })}\n`);
        else if (outcome.ok) process.stdout.write(`sender keys rotated: key-log entry #${outcome.index}; ${outcome.rekeyed} conversation(s) re-keyed${outcome.failed.length > 0 ? `, ${outcome.failed.length} to retry at the next start` : ''}\n`);
        else if (outcome.code === 'signer_required') process.stdout.write('the sender keys live in a token: run this command with --signer (the new pair is made there)\n');
        else process.stdout.write(`rotation failed: [${outcome.code}] ${outcome.message}\n`);
        return outcome.ok ? 0 : 1;
      }
      if (Date.now() > deadline) {
        if (!flags.json) process.stderr.write('\n');
        const message = 'no gateway instance answered: start one (the request stays filed and runs when it leads)';
        process.stdout.write(flags.json ? `${JSON.stringify({ id, ok: false, code: 'no_leader', message, error: { code: 'no_leader', message } })}\n` : `${message}\n`);
        return 1;
      }
      if (!flags.json) process.stderr.write('.');
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await storage.db.close();
  }
}

async function serve(argv: readonly string[]): Promise<ExitCode> {
  const flags = parseFlags(argv, {
    ...STORAGE_FLAGS,
    server: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'webhook-url': { type: 'string' },
    'sms-config': { type: 'string' },
    'instance-id': { type: 'string' },
    'log-level': { type: 'string' },
    pq: { type: 'string', multiple: true },
    dlp: { type: 'string', multiple: true },
  });
  const logLevel = parseLogLevel(flags['log-level'] ?? 'info', '--log-level');
  const expectServerUrl = flags.server === undefined ? undefined : parseServerUrl(flags.server, '--server');
  const postQuantum = parsePostQuantumFlags([...(flags.pq ?? []), ...(process.env['PARLEY_GATEWAY_PQ']?.split(',').filter((v) => v.trim() !== '') ?? [])]);
  const contentPolicies = parseContentPolicyFlags([...(flags.dlp ?? []), ...(process.env['PARLEY_GATEWAY_DLP']?.split(',').filter((v) => v.trim() !== '') ?? [])]);
  const webhookUrl = flags['webhook-url'] ?? process.env['PARLEY_GATEWAY_WEBHOOK_URL'];
  if (webhookUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(webhookUrl)) throw new UsageError('--webhook-url must be an http(s) URL');
  // The business's SMS provider for web links: the `channels` part of a routing config file (twilio or smpp).
  const smsFile = flags['sms-config'] ?? process.env['PARLEY_GATEWAY_SMS_CONFIG'];
  const sms = smsFile ? (await loadRoutingConfig(resolve(smsFile))).channels?.sms : undefined;
  if (smsFile && !sms) throw new UsageError(`${smsFile} configures no SMS provider (channels.twilio or channels.smpp)`);
  // Tuning for tests and drills (seconds between webhook attempts; the sender lease period).
  const schedule = process.env['PARLEY_GATEWAY_WEBHOOK_SCHEDULE']?.split(',').map(Number);
  if (schedule && !schedule.every((n) => Number.isFinite(n) && n >= 0)) throw new UsageError('PARLEY_GATEWAY_WEBHOOK_SCHEDULE: comma-separated seconds');
  const leaseTtl = process.env['PARLEY_GATEWAY_LEASE_TTL_MS'];
  if (leaseTtl !== undefined && !/^[1-9][0-9]{2,5}$/.test(leaseTtl)) throw new UsageError('PARLEY_GATEWAY_LEASE_TTL_MS: milliseconds (100–999999)');
  const storage = await openStorage(flags);
  const { pino } = await import('pino');
  const keyWrapper = await openKeyWrapper(storage, false).catch(async (error: unknown) => {
    await storage.db.close();
    throw error;
  });
  // The sender's keys stay in the token and sign there; the instance opens the pair (by label)
  // that the sender's record names, also after `rotate-sender-keys` moved it to a new one.
  const signerUri = storage.signer;
  const gateway = await startGateway({
    db: storage.db,
    keyWrapper,
    ...(signerUri !== undefined ? { senderKeys: { initialLabels: GATEWAY_SENDER_KEY_LABELS, open: (labels) => openSenderSigners(signerUri, false, labels) } } : {}),
    host: flags.host ?? '127.0.0.1',
    port: parsePort(flags.port ?? process.env['PORT'], 8090),
    logger: pino({ level: logLevel, base: { component: 'parley-gateway' } }),
    ...(webhookUrl ? { webhookUrl } : {}),
    ...(Object.keys(postQuantum).length > 0 ? { postQuantum } : {}),
    ...(contentPolicies ? { contentPolicies } : {}),
    ...(sms ? { sms } : {}),
    ...(flags['instance-id'] ? { instanceId: flags['instance-id'] } : {}),
    ...(schedule ? { webhookSchedule: schedule } : {}),
    ...(leaseTtl ? { leaseTtlMs: Number(leaseTtl) } : {}),
    ...(expectServerUrl ? { expectServerUrl } : {}),
  })
    .catch(async (error: unknown) => {
      await storage.db.close();
      throw error;
    })
    // The data key is unwrapped once, at start: the token session is not needed after that.
    .finally(() => keyWrapper.close?.());
  // Handlers first: a signal right after the "listening" line drains and stops.
  const stopped = new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      process.stdout.write(`parley gateway: ${signal} received, stopping…\n`);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      gateway
        .close()
        .then(() => storage.db.close())
        .then(resolveStop, resolveStop);
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
  process.stdout.write(`parley gateway listening on ${gateway.url} (${storage.where}; instance ${gateway.instanceId})\n`);
  await stopped;
  process.stdout.write('parley gateway stopped\n');
  return 0;
}

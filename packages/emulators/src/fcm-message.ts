/**
 * The FCM emulator's check of a `messages:send` body: FCM's schema for the fields a
 * wake-up uses, plus Parley's opacity rule. A message may carry only `token` or `topic`,
 * `data.type` ("sync") and `data.collapse`, `android.{collapse_key,priority}` and an
 * `apns` wake block (`apns-priority` "5", `apns-push-type` "background",
 * `apns-collapse-id` of at most 64 bytes; payload exactly `{"aps":{"content-available":1}}`).
 * Anything else is `Invalid`, which the emulator answers as FCM does for unknown fields:
 * 400 INVALID_ARGUMENT with a `google.rpc.BadRequest` field violation.
 */

/** A JSON object. */
export type Json = Record<string, unknown>;

/** A request FCM refuses: the offending field and FCM's description. */
export class Invalid extends Error {
  constructor(
    readonly field: string,
    description: string,
  ) {
    super(description);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Json, allowed: readonly string[], at: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new Invalid(at, `Invalid JSON payload received. Unknown name "${key}" at '${at}': Cannot find field.`);
  }
}

/**
 * Parses and checks a `messages:send` body; throws `Invalid`.
 *
 * @example
 * parseRequest('{"message":{"token":"t","data":{"type":"sync","collapse":"c"}}}'); // { message, validateOnly: false }
 */
export function parseRequest(body: string): { message: Json; validateOnly: boolean } {
  let root: unknown;
  try {
    root = JSON.parse(body);
  } catch {
    throw new Invalid('', 'Invalid JSON payload received. Unexpected token.');
  }
  if (!isObject(root)) throw new Invalid('', 'Invalid JSON payload received. Expected an object.');
  onlyKeys(root, ['message', 'validate_only'], '');
  const validateOnly = root['validate_only'];
  if (validateOnly !== undefined && typeof validateOnly !== 'boolean') throw new Invalid('validate_only', "Invalid value at 'validate_only' (TYPE_BOOL)");
  const message = root['message'];
  if (!isObject(message)) throw new Invalid('message', 'Request contains an invalid argument.');
  onlyKeys(message, ['token', 'topic', 'data', 'android', 'apns'], 'message');

  const token = message['token'];
  const topic = message['topic'];
  if ((token === undefined) === (topic === undefined)) throw new Invalid('message', 'Exactly one of message.token, message.topic must be set.');
  if (token !== undefined && (typeof token !== 'string' || token.length === 0)) throw new Invalid('message.token', 'Invalid registration token');
  if (topic !== undefined && (typeof topic !== 'string' || !/^[a-zA-Z0-9\-_.~%]{1,900}$/.test(topic))) throw new Invalid('message.topic', 'Invalid topic name');

  const data = message['data'];
  if (!isObject(data)) throw new Invalid('message.data', 'A wake-up message must carry data.type and data.collapse.');
  onlyKeys(data, ['type', 'collapse'], 'message.data');
  if (data['type'] !== 'sync') throw new Invalid('message.data.type', "Invalid value at 'message.data.type': only \"sync\" is accepted.");
  const collapse = data['collapse'];
  if (typeof collapse !== 'string' || collapse.length === 0 || collapse.length > 256) throw new Invalid('message.data.collapse', "Invalid value at 'message.data.collapse' (TYPE_STRING)");

  const android = message['android'];
  if (android !== undefined) {
    if (!isObject(android)) throw new Invalid('message.android', 'Invalid value at message.android');
    onlyKeys(android, ['collapse_key', 'priority'], 'message.android');
    const key = android['collapse_key'];
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) throw new Invalid('message.android.collapse_key', 'Invalid collapse_key');
    const priority = android['priority'];
    if (priority !== undefined && (typeof priority !== 'string' || !['high', 'normal'].includes(priority.toLowerCase()))) {
      throw new Invalid('message.android.priority', `Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority)`);
    }
  }

  const apns = message['apns'];
  if (apns !== undefined) {
    if (!isObject(apns)) throw new Invalid('message.apns', 'Invalid value at message.apns');
    onlyKeys(apns, ['headers', 'payload'], 'message.apns');
    const headers = apns['headers'];
    if (headers !== undefined) {
      if (!isObject(headers)) throw new Invalid('message.apns.headers', 'Invalid APNs headers');
      onlyKeys(headers, ['apns-priority', 'apns-push-type', 'apns-collapse-id'], 'message.apns.headers');
      for (const [k, v] of Object.entries(headers)) if (typeof v !== 'string') throw new Invalid(`message.apns.headers[${k}]`, 'APNs header values must be strings');
      // FCM rejects data messages to Apple devices sent at priority 10.
      if (headers['apns-priority'] !== undefined && headers['apns-priority'] !== '5') throw new Invalid('message.apns.headers', 'Invalid APNs priority for a background message.');
      if (headers['apns-push-type'] !== undefined && headers['apns-push-type'] !== 'background') throw new Invalid('message.apns.headers', 'Invalid apns-push-type for a wake-up.');
      const collapseId = headers['apns-collapse-id'];
      if (typeof collapseId === 'string' && Buffer.byteLength(collapseId, 'utf8') > 64) throw new Invalid('message.apns.headers', 'apns-collapse-id is longer than 64 bytes.');
    }
    const payload = apns['payload'];
    if (payload !== undefined) {
      if (!isObject(payload)) throw new Invalid('message.apns.payload', 'Invalid APNs payload');
      onlyKeys(payload, ['aps'], 'message.apns.payload');
      const aps = payload['aps'];
      if (!isObject(aps)) throw new Invalid('message.apns.payload.aps', 'Invalid aps dictionary');
      onlyKeys(aps, ['content-available'], 'message.apns.payload.aps');
      if (aps['content-available'] !== 1) throw new Invalid('message.apns.payload.aps', 'content-available must be 1');
    }
  }
  return { message, validateOnly: validateOnly === true };
}

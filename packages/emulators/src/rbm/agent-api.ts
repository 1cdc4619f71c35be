/**
 * The RBM emulator's agent API, as an authenticated agent calls it (the bearer token is
 * checked by the caller):
 *
 * - `GET /v1/phones/{E.164}/capabilities?requestId=…&agentId=…` (phones.getCapabilities):
 *   `200 {"features":[…]}` for an RCS phone, `404 NOT_FOUND` otherwise;
 * - `POST /upload/v1/files?agentId=…` (files.create, binary upload): the body is the file,
 *   its MIME type the Content-Type. Answers `{"name":"files/{uid}"}`;
 * - `POST /v1/phones/{E.164}/agentMessages?messageId={uuid}&agentId=…`
 *   (phones.agentMessages.create) with an `AgentMessage` body whose `contentMessage` holds
 *   `text`, `uploadedRbmFile` or `richCard.standaloneCard`, checked against the documented
 *   shapes and limits. Answers the created `AgentMessage` (`name`, `sendTime`,
 *   `contentMessage`); a repeated `messageId` answers `409 ALREADY_EXISTS`;
 * - `DELETE /v1/phones/{E.164}/agentMessages/{messageId}?agentId=…`
 *   (phones.agentMessages.delete, revocation): `200 {}` while the message is undelivered,
 *   `404 NOT_FOUND` once it was delivered (or never existed).
 *
 * An agent acts only for the service account configured for it, and only while it is a
 * verified agent: otherwise `403 PERMISSION_DENIED`.
 */
import { randomBytes } from 'node:crypto';
import type { RbmHandsets } from './handset.js';
import { HttpError, isRecord, type RbmAgent, type RbmHandsetMessage, type RbmJson } from './types.js';

const E164 = /^\+[1-9][0-9]{1,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the agent API serves. */
export interface RbmAgentApiOptions {
  readonly agents: readonly RbmAgent[];
  readonly handsets: RbmHandsets;
  /** The feature string a phone with a Parley client reports. */
  readonly parleyFeature: string;
  /** MIME types the files API accepts. */
  readonly uploadTypes: ReadonlySet<string>;
  /** What phones with RCS report (the documented `Feature` values). */
  readonly standardFeatures: readonly string[];
  /** Called for each message the API accepted. */
  readonly onAccepted: (message: RbmHandsetMessage) => void;
}

/**
 * The agent-facing RBM API.
 *
 * @example
 * const api = new RbmAgentApi({ agents, handsets, parleyFeature, uploadTypes, standardFeatures, onAccepted });
 * const answer = api.handle('GET', url, undefined, body, callerEmail); // or throws HttpError
 */
export class RbmAgentApi {
  private readonly agents = new Map<string, RbmAgent>();
  private readonly files = new Map<string, { contentType: string; bytes: Uint8Array; agentId: string }>();

  constructor(private readonly options: RbmAgentApiOptions) {
    for (const agent of options.agents) this.agents.set(agent.agentId, agent);
  }

  setAgentVerified(agentId: string, verified: boolean): void {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error('unknown agent');
    this.agents.set(agentId, { ...agent, verified });
  }

  /** Answers one request of the service account `email`: the JSON of a 200 answer, or a thrown HttpError. */
  handle(method: string, url: URL, contentType: string | undefined, body: Buffer, email: string): RbmJson {
    const segments = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    if (method === 'POST' && segments.join('/') === 'upload/v1/files') return this.upload(contentType, url, body, email);
    if (segments[0] === 'v1' && segments[1] === 'phones' && segments[2] !== undefined) {
      const phone = segments[2];
      if (!E164.test(phone)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
      if (method === 'GET' && segments.length === 4 && segments[3] === 'capabilities') return this.capabilities(url, phone, email);
      if (method === 'POST' && segments.length === 4 && segments[3] === 'agentMessages') return this.createMessage(url, phone, body, email);
      if (method === 'DELETE' && segments.length === 5 && segments[3] === 'agentMessages' && segments[4] !== undefined) {
        return this.deleteMessage(url, phone, segments[4], email);
      }
    }
    throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
  }

  /** The agent named in `agentId`, if the caller may act for it and it is verified. */
  private agentFor(url: URL, email: string): RbmAgent {
    const agentId = url.searchParams.get('agentId');
    if (!agentId) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const agent = this.agents.get(agentId);
    if (!agent || agent.serviceAccountEmail !== email || !agent.verified) {
      throw new HttpError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    }
    return agent;
  }

  private capabilities(url: URL, phone: string, email: string): RbmJson {
    this.agentFor(url, email);
    const requestId = url.searchParams.get('requestId');
    if (!requestId || !UUID.test(requestId)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const capability = this.options.handsets.capability(phone);
    if (capability === 'none') throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    const standard = this.options.standardFeatures;
    return { features: capability === 'parley' ? [...standard, this.options.parleyFeature] : [...standard] };
  }

  private upload(contentTypeHeader: string | undefined, url: URL, body: Buffer, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    const contentType = (contentTypeHeader ?? '').split(';')[0]!.trim().toLowerCase();
    if (!this.options.uploadTypes.has(contentType) || body.length === 0) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const name = `files/${randomBytes(16).toString('hex')}`;
    this.files.set(name, { contentType, bytes: new Uint8Array(body), agentId: agent.agentId });
    return { name };
  }

  private createMessage(url: URL, phone: string, body: Buffer, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    const messageId = url.searchParams.get('messageId');
    if (!messageId || !UUID.test(messageId)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (!isRecord(parsed) || !isRecord(parsed['contentMessage'])) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const content = parsed['contentMessage'];
    const file = this.validateContent(content, agent.agentId);
    if ('ttl' in parsed && (typeof parsed['ttl'] !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(parsed['ttl']))) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Invalid value at \'agent_message.ttl\'.');
    }
    const handsets = this.options.handsets;
    if (handsets.capability(phone) === 'none') throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (handsets.has(messageId)) throw new HttpError(409, 'ALREADY_EXISTS', 'Requested entity already exists');
    const message: RbmHandsetMessage = {
      messageId,
      agentId: agent.agentId,
      phone,
      contentMessage: content as RbmJson,
      ...(file ? { file } : {}),
      sendTime: new Date(),
      state: 'pending',
    };
    handsets.accept(message);
    this.options.onAccepted(message);
    return { name: `phones/${phone}/agentMessages/${messageId}`, sendTime: message.sendTime.toISOString(), contentMessage: content as RbmJson };
  }

  /** Checks an AgentContentMessage against the documented shape and limits. */
  private validateContent(content: Record<string, unknown>, agentId: string): RbmHandsetMessage['file'] {
    const invalid = (field: string): HttpError => new HttpError(400, 'INVALID_ARGUMENT', `Invalid value at 'agent_message.content_message${field}'.`);
    const kinds = ['text', 'fileName', 'uploadedRbmFile', 'richCard', 'contentInfo'].filter((k) => k in content);
    if (kinds.length !== 1) throw invalid('');
    if ('suggestions' in content) validateSuggestions(content['suggestions'], 11, invalid);
    const text = content['text'];
    if (text !== undefined) {
      if (typeof text !== 'string' || text.length === 0 || text.length > 3072) throw invalid('.text');
      return undefined;
    }
    const uploaded = content['uploadedRbmFile'];
    if (uploaded !== undefined) {
      if (!isRecord(uploaded) || typeof uploaded['fileName'] !== 'string') throw invalid('.uploaded_rbm_file');
      const stored = this.files.get(uploaded['fileName']);
      if (!stored || stored.agentId !== agentId) throw invalid('.uploaded_rbm_file.file_name');
      return { name: uploaded['fileName'], contentType: stored.contentType, bytes: stored.bytes };
    }
    const rich = content['richCard'];
    if (rich !== undefined) {
      if (!isRecord(rich) || !isRecord(rich['standaloneCard'])) throw invalid('.rich_card');
      const card = rich['standaloneCard'];
      if (card['cardOrientation'] !== 'VERTICAL' && card['cardOrientation'] !== 'HORIZONTAL') throw invalid('.rich_card.standalone_card.card_orientation');
      const c = card['cardContent'];
      if (!isRecord(c)) throw invalid('.rich_card.standalone_card.card_content');
      const title = c['title'];
      const description = c['description'];
      if (title !== undefined && (typeof title !== 'string' || title.length > 200)) throw invalid('.rich_card.standalone_card.card_content.title');
      if (description !== undefined && (typeof description !== 'string' || description.length > 2000)) throw invalid('.rich_card.standalone_card.card_content.description');
      if (title === undefined && description === undefined && c['media'] === undefined) throw invalid('.rich_card.standalone_card.card_content');
      if (c['suggestions'] !== undefined) validateSuggestions(c['suggestions'], 4, invalid);
      return undefined;
    }
    // fileName (deprecated) and contentInfo (fetching a URL) are not emulated.
    throw invalid(`.${kinds[0] ?? ''}`);
  }

  private deleteMessage(url: URL, phone: string, messageId: string, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    if (!this.options.handsets.revoke(phone, agent.agentId, messageId)) throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    return {};
  }
}

function validateSuggestions(value: unknown, max: number, invalid: (field: string) => HttpError): void {
  if (!Array.isArray(value) || value.length > max) throw invalid('.suggestions');
  for (const s of value as unknown[]) {
    if (!isRecord(s)) throw invalid('.suggestions');
    const chip = isRecord(s['action']) ? s['action'] : isRecord(s['reply']) ? s['reply'] : undefined;
    if (!chip || typeof chip['text'] !== 'string' || chip['text'].length === 0 || chip['text'].length > 25) throw invalid('.suggestions.text');
    if (typeof chip['postbackData'] !== 'string' || chip['postbackData'].length > 2048) throw invalid('.suggestions.postback_data');
    const open = chip['openUrlAction'];
    if (open !== undefined) {
      if (!isRecord(open) || typeof open['url'] !== 'string') throw invalid('.suggestions.action.open_url_action');
      let parsed: URL;
      try {
        parsed = new URL(open['url']);
      } catch {
        throw invalid('.suggestions.action.open_url_action.url');
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid('.suggestions.action.open_url_action.url');
    }
  }
}

import { startTestServer } from '@parley/test-kit/server';
const t = await startTestServer();
const doc = await (await fetch(`${t.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { operationId?: string; tags?: string[]; responses: Record<string, unknown> }>> };
for (const [p, ops] of Object.entries(doc.paths)) if (p.startsWith('/v1/admin')) for (const [m, o] of Object.entries(ops)) console.log(m.toUpperCase(), p, o.operationId, o.tags, Object.keys(o.responses).join(','));
await t.stop();

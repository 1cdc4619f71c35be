/**
 * One way to answer with a blob's ciphertext, for the device route (`GET /v1/blobs/:id`) and the
 * web link's page (`GET /v1/web/blobs/:id`): the download opened (its 416 answered with
 * `Content-Range: bytes * /size`), streamed with its length and range, never cached, and its
 * fetched mark set once the whole response went out.
 */
import type { FastifyReply } from 'fastify';
import { isParleyError } from '@parley/core';
import type { Download } from '../blobs/blob-downloads.js';
import type { Logger } from 'pino';

/**
 * @example
 * return sendDownload(reply, () => ctx.blobs.download(me, blobId, request.headers.range), ctx.log, blobId);
 */
export async function sendDownload(reply: FastifyReply, open: () => Promise<Download>, log: Logger, blobId: string): Promise<FastifyReply> {
  let download: Download;
  try {
    download = await open();
  } catch (error) {
    if (isParleyError(error) && error.code === 'range_not_satisfiable') void reply.header('content-range', `bytes */${String(error.details?.['size'])}`);
    throw error;
  }
  const { status, start, end, size } = download;
  reply.raw.once('finish', () => {
    download.finished().catch((err: unknown) => log.warn({ err, blob: blobId }, 'blob fetched mark failed'));
  });
  return reply
    .headers({
      'content-type': 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
    })
    .status(status)
    .send(download.body);
}

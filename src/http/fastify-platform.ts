import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../app.config';
import { registerBodyParsers } from './fastify-platform.body-parser';
import { crossSiteBody, crossSiteRefusal } from './same-origin.middleware';

/**
 * Longest route parameter (`/presence/:uid`, percent-encoded) Fastify routes; its own default, 100, would answer 404
 * for a valid 256-character uid. Node's header limit (16 KiB for the whole request line) bounds it as on Express.
 */
const MAX_PARAM_LENGTH = 16 * 1024;

/**
 * The example app on `@nestjs/platform-fastify`, serving the same HTTP contract as on Express:
 * - routes match as Express matches them (case-insensitive, a trailing slash optional);
 * - the CSRF check (`crossSiteRefusal`) runs as an `onRequest` hook, before any body is read;
 * - bodies are read by parsers that behave as body-parser does, limit and JSON errors included
 *   (fastify-platform.body-parser.ts);
 * - a path that does not percent-decode answers 400 `Failed to decode param '…'`, as on Express (Fastify's own answer
 *   has another shape);
 * - Fastify sends no ETag and no `X-Powered-By` by itself.
 */
export async function createFastifyApp(module: DynamicModule, config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    // Errors Fastify's router raises before any hook or Nest handler runs: answered in the app's JSON shape.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const body = frameworkErrorBody(error, request.raw.url ?? '/');
      void reply.code(body.statusCode).send(body);
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    bodyParser: false,
    logger: process.env.NODE_ENV === 'test' ? ['error', 'warn'] : undefined,
  });
  const fastify = app.getHttpAdapter().getInstance();
  const refusal = crossSiteRefusal(config.push.allowedOrigins);
  fastify.addHook('onRequest', (request, reply, done) => {
    const reason = refusal(request.raw.method, request.raw.url, request.headers);
    if (reason === null) return done();
    void reply.code(403).send(crossSiteBody(reason));
  });
  registerBodyParsers(fastify, config.bodyLimit);
  return app;
}

/**
 * The JSON answer to an error of Fastify's router: a path segment that is not valid percent-encoded UTF-8 gets
 * Express's 400 (`Failed to decode param '%zz'`), anything else its status in the app's error shape.
 */
function frameworkErrorBody(error: { code?: string; statusCode?: number; message: string }, url: string) {
  if (error.code === 'FST_ERR_BAD_URL') {
    const path = url.split('?')[0];
    const segment = path.split('/').find((part) => !decodes(part)) ?? path;
    return { statusCode: 400, error: 'Bad Request', message: `Failed to decode param '${segment}'` };
  }
  const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message: error.message };
}

function decodes(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
}

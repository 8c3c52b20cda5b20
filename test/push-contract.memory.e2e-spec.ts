import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { MemoryEngine } from 'nest-push-channel';
import { describePushEngineContract } from 'nest-push-channel/testing';

/*
 * The exported contract suite on the memory engine: one node. In the jest project "fastify" (HTTP_PLATFORM=fastify)
 * the node runs on @nestjs/platform-fastify through the suite's `createApp` option, so the option and the gateway
 * on Fastify are both exercised; otherwise on the suite's default, Express.
 */
const onFastify = process.env.HTTP_PLATFORM === 'fastify';

describePushEngineContract(`memory engine, one process, on ${onFastify ? 'Fastify' : 'Express'}`, {
  createEngine: () => new MemoryEngine(),
  createApp: onFastify
    ? async (module) => {
        const app = await NestFactory.create(module, new FastifyAdapter(), {
          logger: ['error', 'warn'],
          abortOnError: false,
        });
        // A suite of the fastify project must never pass on Express by accident.
        if (app.getHttpAdapter().getType() !== 'fastify') throw new Error('the node is not on Fastify');
        return app;
      }
    : undefined,
});

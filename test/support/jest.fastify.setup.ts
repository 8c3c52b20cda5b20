// The jest project "fastify" (test/jest.fastify.config.js): every app these suites start, in-process
// (test-app.ts) or as `node dist/src/main.js` (node-process.ts), runs on @nestjs/platform-fastify.
process.env.HTTP_PLATFORM = 'fastify';

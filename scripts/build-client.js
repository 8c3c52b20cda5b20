#!/usr/bin/env node
// Builds the browser client nest-push-client (libs/push-client) into its dist/: ES modules with declarations, from
// an empty dist/ (a file deleted from src/ must not ship from an old build). `npm run build`, `npm test` and
// `npm start` run it (the example app serves dist/push-client.js at GET /push-client.js), and so does `npm pack` there.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lib = join(root, 'libs', 'push-client');
const dist = join(lib, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [lib, root] });
const build = spawnSync(process.execPath, [tsc, '-p', join(lib, 'tsconfig.json')], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`build-client: tsc failed (exit ${build.status ?? build.signal})`);
  process.exit(1);
}
for (const file of ['index.js', 'index.d.ts', 'push-client.js', 'push-client.d.ts']) {
  if (!existsSync(join(dist, file))) {
    console.error(`build-client: dist/${file} is missing after the build`);
    process.exit(1);
  }
}
console.log('build-client: libs/push-client/dist built');

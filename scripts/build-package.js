#!/usr/bin/env node
// Builds the npm package nest-push-channel in libs/push: `npm pack` / `npm publish` run it as `prepack`, so a
// tarball is complete without a prior build. It starts from an empty dist/ (a file deleted from src/ must not
// ship from an old build), compiles with tsconfig.lib.json (declarations, no source maps: see that file), and
// copies the repository's README.md, LICENSE and CHANGELOG.md in beside package.json (git ignores the copies).
'use strict';
const { spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, readdirSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lib = join(root, 'libs', 'push');
const dist = join(lib, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = require.resolve('typescript/bin/tsc', { paths: [lib, root] });
const build = spawnSync(process.execPath, [tsc, '-p', join(lib, 'tsconfig.lib.json')], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error(`build-package: tsc failed (exit ${build.status ?? build.signal})`);
  process.exit(1);
}
for (const file of ['index.js', 'index.d.ts']) {
  if (!existsSync(join(dist, file))) {
    console.error(`build-package: dist/${file} is missing after the build`);
    process.exit(1);
  }
}
for (const file of ['README.md', 'LICENSE', 'CHANGELOG.md']) copyFileSync(join(root, file), join(lib, file));
console.log(`build-package: ${countFiles(dist)} files in libs/push/dist, README.md, LICENSE and CHANGELOG.md copied`);

function countFiles(dir) {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  }
  return n;
}

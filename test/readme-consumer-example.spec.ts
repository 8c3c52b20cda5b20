import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { REPO_ROOT } from './support/node-process';

/**
 * The README's consumer example is the app the packaging test installs and runs: every ```ts block whose first
 * line is `// src/<file>.ts` must equal test/fixtures/consumer-app/src/<file>.ts byte for byte, and every file
 * there must be in the README. Also: the README's examples import the package by its npm name, and its relative
 * links stay inside the repository and point at files that exist.
 */
describe('README', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const fixtureSrc = join(REPO_ROOT, 'test', 'fixtures', 'consumer-app', 'src');

  /** Fenced ```ts blocks, each with the text between the fences (ending with a newline, as a file does). */
  const tsBlocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  const fileBlocks = tsBlocks.filter((block) => /^\/\/ src\/\S+\.ts\n/.test(block));

  it('shows every file of the consumer fixture once, byte for byte', () => {
    const shown = fileBlocks.map((block) => /^\/\/ (src\/\S+\.ts)\n/.exec(block)![1]);
    const fixtureFiles = readdirSync(fixtureSrc).map((file) => `src/${file}`);
    expect([...shown].sort()).toEqual([...fixtureFiles].sort());
    for (const block of fileBlocks) {
      const file = /^\/\/ (src\/\S+\.ts)\n/.exec(block)![1];
      expect({ file, text: block }).toEqual({ file, text: readFileSync(join(fixtureSrc, file.slice(4)), 'utf8') });
    }
  });

  it('imports the module as nest-push-channel (or one of its exported entry points) in every example', () => {
    expect(readme).not.toContain('@app/push');
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'libs', 'push', 'package.json'), 'utf8')) as {
      name: string;
      exports: Record<string, unknown>;
    };
    const entryPoints = Object.keys(pkg.exports)
      .filter((key) => !key.endsWith('.json'))
      .map((key) => (key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`));
    expect(entryPoints).toContain('nest-push-channel');
    const importsOfTheModule = tsBlocks
      .flatMap((block) => [...block.matchAll(/from '([^']+)'/g)].map((match) => match[1]))
      .filter((source) => /push/i.test(source) && !source.startsWith('.'));
    expect(importsOfTheModule.length).toBeGreaterThan(0);
    expect(importsOfTheModule.filter((source) => !entryPoints.includes(source))).toEqual([]);
  });

  it('links only to files inside the repository that exist', () => {
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((match) => match[1])
      .filter((target) => !/^(https?:|mailto:|#)/.test(target))
      .map((target) => target.replace(/#.*$/, ''));
    expect(targets.length).toBeGreaterThan(0);
    const bad = targets.filter((target) => {
      const path = resolve(REPO_ROOT, target);
      return relative(REPO_ROOT, path).startsWith('..') || target.startsWith('/') || !existsSync(path);
    });
    expect(bad).toEqual([]);
  });
});

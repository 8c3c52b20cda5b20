import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** How a child process ended: an exit code, or the signal that ended it. */
export interface NodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Optional settings of `NodeProcess.start`. */
export interface NodeStartOptions {
  /**
   * The repository root to run `dist/src/main.js` from (default `REPO_ROOT`). A copy of this file compiled
   * elsewhere (the soak's `dist-soak/`) sits one level deeper, so its own `REPO_ROOT` is wrong and it passes this.
   */
  root?: string;
}

/** The repository root (where `dist/src/main.js` is built). */
export const REPO_ROOT = resolve(__dirname, '..', '..');

/** The most output kept per process, for failure messages. */
const MAX_OUTPUT = 64 * 1024;

/** Every child still running, so that a crashed or aborted test run does not leave one behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The example app as `npm start` runs it (`node dist/src/main.js`), in a child process of its own: real process,
 * real port, real signals. It is ready once it logs `push demo on http://HOST:PORT (…)`; that URL is `url`.
 */
export class NodeProcess {
  /** Resolves when the process has ended. */
  readonly exited: Promise<NodeExit>;
  /** `http://127.0.0.1:PORT`, set once the process logged it. */
  url = '';
  private stdout = '';
  private stderr = '';
  private exit: NodeExit | null = null;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout = keepTail(this.stdout + chunk.toString())));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr = keepTail(this.stderr + chunk.toString())));
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        done(this.exit);
      });
    });
  }

  /**
   * Starts `node dist/src/main.js` with `env` on top of a clean environment (PORT=0, HOST=127.0.0.1, NO_COLOR=1;
   * never the test runner's NODE_ENV=test, which would silence the log line this waits for). The test run's
   * `HTTP_PLATFORM` (the jest project "fastify" sets it) is passed on unless `env` names one.
   */
  static async start(
    name: string,
    env: Record<string, string>,
    timeoutMs = 20_000,
    options: NodeStartOptions = {},
  ): Promise<NodeProcess> {
    const base = { ...process.env };
    delete base.NODE_ENV;
    const root = options.root ?? REPO_ROOT;
    const platform = env.HTTP_PLATFORM ?? process.env.HTTP_PLATFORM ?? 'express';
    const child = spawn(process.execPath, [resolve(root, 'dist/src/main.js')], {
      cwd: root,
      env: { ...base, HTTP_PLATFORM: platform, PORT: '0', HOST: '127.0.0.1', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new NodeProcess(name, child);
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        fail(new Error(`${name} did not log its URL within ${timeoutMs} ms\n${node.output()}`));
      }, timeoutMs);
      const onData = () => {
        const match = /push demo on (http:\/\/\S+)/.exec(node.stdout);
        if (!match) return;
        node.url = match[1];
        cleanup();
        // main.ts names its platform on the same line: a suite of the fastify project must not pass on Express.
        const logged = /HTTP on (\w+)/.exec(node.stdout)?.[1];
        if (logged !== undefined && logged !== platform) {
          child.kill('SIGKILL');
          return fail(new Error(`${name} runs on ${logged}, expected ${platform}\n${node.output()}`));
        }
        ready();
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        cleanup();
        fail(new Error(`${name} exited before listening (code ${code}, signal ${signal})\n${node.output()}`));
      };
      const onError = (error: Error) => {
        cleanup();
        fail(new Error(`${name} could not be spawned: ${error.message}`));
      };
      function cleanup() {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      }
      // Registered after the constructor's listener, so `node.stdout` already holds the chunk.
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    });
    return node;
  }

  /** `ws://127.0.0.1:PORT/ws` */
  get wsUrl(): string {
    return `${this.url.replace(/^http/, 'ws')}/ws`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.exit === null;
  }

  /** Sends `signal` (SIGKILL by default) and resolves once the process has ended. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<NodeExit> {
    if (this.exit === null) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM: the app's graceful shutdown. Resolves with how the process ended. */
  terminate(): Promise<NodeExit> {
    return this.kill('SIGTERM');
  }

  /** What the process printed (the last `max` characters of stdout and of stderr), for failure messages. */
  output(max = MAX_OUTPUT): string {
    const exit = this.exit ? ` (exited: code ${this.exit.code}, signal ${this.exit.signal})` : '';
    return (
      `--- ${this.name}${exit} stdout ---\n${this.stdout.slice(-max)}\n` +
      `--- ${this.name} stderr ---\n${this.stderr.slice(-max)}`
    );
  }
}

function keepTail(text: string): string {
  return text.length > MAX_OUTPUT ? text.slice(text.length - MAX_OUTPUT) : text;
}

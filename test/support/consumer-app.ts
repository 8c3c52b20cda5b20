import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { NodeExit } from './node-process';

/** The most output kept per process, for failure messages. */
const MAX_OUTPUT = 64 * 1024;

/** Every child still running, so that a crashed or aborted test run does not leave one behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * The environment for a child that must behave as in a fresh shell: without the variables `npm test` and Jest set
 * for themselves (the enclosing package's npm_package_*, npm_lifecycle_*, its local prefix, and NODE_ENV=test).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/i.test(key) || /^(npm_config_local_prefix|npm_command|INIT_CWD|NODE_ENV)$/i.test(key)) {
      delete env[key];
    }
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/**
 * Runs a command to its end and resolves with its output; rejects with the command, its exit and its output when
 * it fails or outlasts `timeoutMs` (then it is killed).
 */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let output = '';
    const keep = (chunk: Buffer) => (output = keepTail(output + chunk.toString()));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${command} ${args.join(' ')} could not be spawned: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) return resolve(output);
      const how = signal ? `was killed (${signal}${signal === 'SIGKILL' ? `, over ${timeoutMs} ms?` : ''})` : `exited ${code}`;
      reject(new Error(`${command} ${args.join(' ')} (in ${options.cwd}) ${how}\n${output}`));
    });
  });
}

/**
 * One compiled script of the consumer app (`node dist/main.js`) in its own process: real process, real port, real
 * signals. It listens on PORT=0 and is ready once it logs `listening on http://HOST:PORT`; `port` is that port.
 */
export class ConsumerProcess {
  /** Resolves when the process has ended. */
  readonly exited: Promise<NodeExit>;
  /** The port it listens on (from its log line). */
  port = 0;
  private out = '';
  private exit: NodeExit | null = null;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    live.add(child);
    const keep = (chunk: Buffer) => (this.out = keepTail(this.out + chunk.toString()));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = { code, signal };
        done(this.exit);
      });
    });
  }

  /** Starts `node <script>` in `appDir` with `env` on top of `cleanEnv()` and PORT=0, without waiting for it. */
  static spawn(name: string, appDir: string, script: string, env: Record<string, string>): ConsumerProcess {
    const child = spawn(process.execPath, [join(appDir, script)], {
      cwd: appDir,
      env: cleanEnv({ PORT: '0', ...env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ConsumerProcess(name, child);
  }

  /** Starts it and waits for its `listening on` line. */
  static async start(
    name: string,
    appDir: string,
    script: string,
    env: Record<string, string>,
    timeoutMs = 20_000,
  ): Promise<ConsumerProcess> {
    const app = ConsumerProcess.spawn(name, appDir, script, env);
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => {
        cleanup();
        app.child.kill('SIGKILL');
        fail(new Error(`${name} did not log its URL within ${timeoutMs} ms\n${app.output()}`));
      }, timeoutMs);
      const onData = () => {
        const match = /listening on https?:\/\/\S+:(\d+)/.exec(app.out);
        if (!match) return;
        app.port = Number(match[1]);
        cleanup();
        ready();
      };
      const onExit = () => {
        cleanup();
        fail(new Error(`${name} exited before listening\n${app.output()}`));
      };
      function cleanup() {
        clearTimeout(timer);
        app.child.stdout!.off('data', onData);
        app.child.off('exit', onExit);
      }
      // Registered after the constructor's listener, so `app.out` already holds the chunk.
      app.child.stdout!.on('data', onData);
      app.child.once('exit', onExit);
    });
    return app;
  }

  /**
   * `http://127.0.0.1:PORT`. The app logs what `getUrl()` says (`[::1]` on Express, which listens on every
   * interface, `127.0.0.1` on Fastify's 0.0.0.0); IPv4 loopback reaches both.
   */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `ws://127.0.0.1:PORT<path>` */
  wsUrl(path = '/ws'): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Sends `signal` (SIGKILL by default) and resolves once the process has ended. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<NodeExit> {
    if (this.exit === null) this.child.kill(signal);
    return this.exited;
  }

  /** Everything it printed (stdout and stderr interleaved, the last 64 KiB), for assertions and failure messages. */
  output(): string {
    const exit = this.exit ? ` (exited: code ${this.exit.code}, signal ${this.exit.signal})` : '';
    return `--- ${this.name}${exit} ---\n${this.out}`;
  }

  /** Just what it printed. */
  get printed(): string {
    return this.out;
  }
}

function keepTail(text: string): string {
  return text.length > MAX_OUTPUT ? text.slice(text.length - MAX_OUTPUT) : text;
}

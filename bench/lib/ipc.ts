/**
 * The bench's control channel: the orchestrator forks every server, load generator and sender as a Node child
 * with an IPC channel, sends `{id, cmd, args}` requests and gets `{id, ok, result | error}` replies; children
 * may also push `{event, data}` messages (ready, done). Every wait has a hard timeout with a message naming the
 * child and the command, and every child is killed when the orchestrator exits, fails or is interrupted.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface IpcRequest {
  id: number;
  cmd: string;
  args?: unknown;
}

export interface IpcReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface IpcEvent {
  event: string;
  data?: unknown;
}

/** Every child forked by this process that has not exited yet, with the signal that ends it. */
const live = new Map<ChildProcess, NodeJS.Signals>();
let exitHooked = false;

/**
 * Kills every child still running (synchronous, safe to call from an exit handler): SIGKILL, or SIGTERM for a
 * child that must clean up after itself (the redis keeper kills its redis-server).
 */
export function killAllChildren(): void {
  for (const [child, signal] of live) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\nbench: ${signal}, killing ${live.size} child process(es)`);
      killAllChildren();
      process.exit(130);
    });
  }
}

/** Keeps the last `max` characters of a child's output, for error messages. */
const MAX_TAIL = 16 * 1024;

interface Pending {
  cmd: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Waiter {
  event: string;
  predicate: (data: any) => boolean;
  resolve: (data: any) => void;
}

export interface ForkOptions {
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Echo the child's output on our stderr, prefixed with its name. */
  verbose?: boolean;
  /** Signal that ends it (default SIGKILL); SIGTERM for a child that must clean up (then SIGKILL after 3 s). */
  killSignal?: NodeJS.Signals;
}

/** A forked child seen from the orchestrator. */
export class Peer {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<Waiter>();
  private readonly backlog: IpcEvent[] = [];
  private tail = '';

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    verbose: boolean,
    private readonly killSignal: NodeJS.Signals,
  ) {
    live.set(child, killSignal);
    const onData = (stream: string) => (chunk: Buffer) => {
      const text = chunk.toString();
      this.tail = (this.tail + text).slice(-MAX_TAIL);
      if (verbose) process.stderr.write(text.replace(/^(?=.)/gm, `[${name} ${stream}] `));
    };
    child.stdout?.on('data', onData('out'));
    child.stderr?.on('data', onData('err'));
    child.on('message', (message: IpcReply | IpcEvent) => this.onMessage(message));
    child.on('error', (error) => {
      this.tail += `\n[spawn error] ${error.message}`;
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal };
        const why = new Error(`${name} exited (code ${code}, signal ${signal})${this.outputForError()}`);
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${name}: "${p.cmd}" failed: ${why.message}`));
        }
        this.pending.clear();
        resolve(this.exitInfo);
      });
    });
  }

  /** Forks `script` (a compiled .js file) with an IPC channel; its stdout/stderr are kept for error messages. */
  static fork(name: string, script: string, args: string[] = [], options: ForkOptions = {}): Peer {
    hookExit();
    const child = fork(script, args, {
      execArgv: options.execArgv ?? [],
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    return new Peer(name, child, options.verbose ?? false, options.killSignal ?? 'SIGKILL');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends a command and waits for its reply, at most `timeoutMs`. */
  request<T = unknown>(cmd: string, args: unknown = {}, timeoutMs = 30_000): Promise<T> {
    if (this.exitInfo) {
      return Promise.reject(new Error(`${this.name}: cannot send "${cmd}", it already exited${this.outputForError()}`));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to "${cmd}" within ${timeoutMs} ms${this.outputForError()}`));
      }, timeoutMs);
      this.pending.set(id, { cmd, resolve: resolve as (value: unknown) => void, reject, timer });
      try {
        this.child.send({ id, cmd, args } satisfies IpcRequest);
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error(`${this.name}: could not send "${cmd}": ${(error as Error).message}`));
      }
    });
  }

  /**
   * Waits for the next event named `event` (matching `predicate`), at most `timeoutMs`. An event that arrived
   * before the call and was not consumed yet counts.
   */
  waitFor<T = any>(event: string, timeoutMs: number, what = event, predicate: (data: T) => boolean = () => true): Promise<T> {
    const index = this.backlog.findIndex((e) => e.event === event && predicate(e.data as T));
    if (index >= 0) return Promise.resolve(this.backlog.splice(index, 1)[0].data as T);
    if (this.exitInfo) return Promise.reject(new Error(`${this.name} exited before ${what}${this.outputForError()}`));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { event, predicate, resolve: () => undefined };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: ${what} did not happen within ${timeoutMs} ms${this.outputForError()}`));
      }, timeoutMs);
      const onExit = () => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited before ${what}${this.outputForError()}`));
      };
      void this.exited.then(onExit);
      waiter.resolve = (data) => {
        clearTimeout(timer);
        resolve(data);
      };
      this.waiters.add(waiter);
    });
  }

  /** Ends the child (its kill signal, then SIGKILL after 3 s) and waits (at most 8 s) for it to be gone. */
  async kill(): Promise<void> {
    if (this.exitInfo) return;
    const send = (signal: NodeJS.Signals) => {
      try {
        this.child.kill(signal);
      } catch {
        // already gone
      }
    };
    send(this.killSignal);
    const escalate = this.killSignal === 'SIGKILL' ? undefined : setTimeout(() => send('SIGKILL'), 3_000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) still alive 8 s after being killed`)), 8_000);
      }),
    ]).finally(() => {
      clearTimeout(timer);
      clearTimeout(escalate);
    });
  }

  /** The tail of the child's output. */
  output(): string {
    return this.tail;
  }

  private outputForError(): string {
    const text = this.tail.trim();
    return text ? `\n--- last output of ${this.name} ---\n${text.slice(-4000)}\n---` : '';
  }

  private onMessage(message: IpcReply | IpcEvent): void {
    if ('event' in message) {
      for (const waiter of this.waiters) {
        if (waiter.event === message.event && waiter.predicate(message.data)) {
          this.waiters.delete(waiter);
          waiter.resolve(message.data);
          return;
        }
      }
      this.backlog.push(message);
      if (this.backlog.length > 100) this.backlog.shift();
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new Error(`${this.name}: "${pending.cmd}" failed: ${message.error}`));
  }
}

/** A command handler inside a child. */
export type Handler = (args: any) => unknown;

/**
 * Serves commands inside a child. The child exits as soon as its parent goes away (the IPC channel closes), so
 * an orchestrator that is killed outright leaves no load generator or server behind.
 */
export function serve(handlers: Record<string, Handler>): void {
  guardChild();
  process.on('message', (message: IpcRequest) => {
    const handler = handlers[message.cmd];
    const reply = (body: Omit<IpcReply, 'id'>) => {
      if (process.connected) process.send!({ id: message.id, ...body });
    };
    if (!handler) return reply({ ok: false, error: `unknown command "${message.cmd}"` });
    Promise.resolve()
      .then(() => handler(message.args ?? {}))
      .then(
        (result) => reply({ ok: true, result: result ?? null }),
        (error: unknown) => reply({ ok: false, error: (error as Error)?.stack ?? String(error) }),
      );
  });
}

/** Sends an unsolicited event to the orchestrator. */
export function emit(event: string, data?: unknown): void {
  if (process.connected) process.send!({ event, data } satisfies IpcEvent);
}

let guarded = false;

/**
 * Call first thing in every child: it must be forked by the orchestrator, and it exits as soon as the
 * orchestrator goes away (even if it was SIGKILLed), so nothing it started can outlive the run.
 */
export function guardChild(): void {
  if (guarded) return;
  guarded = true;
  if (!process.send) throw new Error('this script is a bench child: run it through `npm run bench`');
  process.on('disconnect', () => process.exit(0));
}

/** Makes a child die loudly on an unexpected error instead of hanging the orchestrator. */
export function dieOnUncaught(name: string): void {
  const die = (error: unknown) => {
    console.error(`${name}: fatal: ${(error as Error)?.stack ?? String(error)}`);
    process.exit(1);
  };
  process.on('uncaughtException', die);
  process.on('unhandledRejection', die);
}

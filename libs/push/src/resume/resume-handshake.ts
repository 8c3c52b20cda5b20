import { Logger } from '@nestjs/common';
import { WebSocket } from 'ws';
import type { AdoptedRecord, InitialBinding, PushEngine } from '../engine/push.engine';
import { PushEngineUnavailableError } from '../errors/push.errors';
import type { HistoryRead } from '../history/history.interface';
import { connectionTargets, targetKey } from '../history/target-key';
import { createClientId } from '../identity/client-id';
import { joinedAt, LocalConnection, type ResumeState } from '../local/local-connection';
import type { LocalRegistry } from '../local/local-registry';
import type { PushMetrics } from '../push-metrics.service';
import type { EncodedMessage } from '../message/encoded-message';
import { PushCloseCode, type HelloFrame, type ResumeRefusal, type Welcome } from './push-protocol';
import { planReplay } from './replay-plan';
import { createResumeSecret, hashResumeSecret, keptSecretHash, parseResumeToken } from './resume-token';

/** How a resume ended. */
export type ResumeOutcome =
  /** Resumed: `conn` is attached to the new socket, and has been sent its welcome and what it missed. */
  | { kind: 'resumed'; conn: LocalConnection; previousClientId: string; recovered: boolean }
  /** Refused: the caller carries on with a fresh connection and says why in its welcome. */
  | { kind: 'refused'; reason: ResumeRefusal }
  /** Undecidable now (the engine's backend is unavailable): the caller closes with 1013, the client keeps its token. */
  | { kind: 'retry'; message: string }
  /**
   * The new socket closed before the welcome was written: nothing to answer. The client's token still works, unless
   * the connection had already been released by the node it moved from (its copy here then ends, see `dropped`).
   */
  | { kind: 'gone' }
  /**
   * The new socket closed once the connection was registered here, before anyone routed its close: the caller ends it
   * (its client holds no token for it).
   */
  | { kind: 'dropped'; conn: LocalConnection };

/** Builds the welcome frame of a connection whose client holds `secret` from now on. */
export type WelcomeBuilder = (conn: LocalConnection, secret: string, resume: Welcome['resume']) => EncodedMessage;

/** A fresh connection's resume state, and the secret of the token to hand it. */
export function newResumeState(): { state: ResumeState; secret: string } {
  const secret = createResumeSecret();
  const state: ResumeState = {
    secretHash: keptSecretHash(secret),
    issued: false,
    since: new Map(),
    detachedUntil: 0,
    pending: [], // until its welcome is written
    historyLost: false,
    expiry: null,
    end: null,
    movedTo: null,
    offerUntil: 0,
    sent: null,
  };
  return { state, secret };
}

/**
 * The server side of a resume (see the README's "Resume and recovery"): finds the connection a token names through
 * the engine (here, on another node, or left by a node that went away), checks the token's secret, gives the
 * connection the new socket (or registers it here anew, with its uid, groups and session), reads what it missed
 * from its targets' histories while live pushes to it are collected, then writes the welcome, the missed messages
 * and the collected ones (without duplicates), in that order, before anything newer.
 */
export class ResumeHandshake {
  private readonly logger = new Logger('PushResume');

  constructor(
    private readonly engine: PushEngine,
    private readonly registry: LocalRegistry,
    private readonly welcome: WelcomeBuilder,
    private readonly metrics: PushMetrics,
  ) {}

  /**
   * Resumes the connection `hello.resume` names on `socket`. `attach` is called as soon as the socket belongs to a
   * connection (`moved`: one registered here anew), before anything else is awaited, so the gateway routes its frames
   * and its close from then on.
   */
  async resume(
    socket: WebSocket,
    hello: HelloFrame,
    remoteAddress: string | undefined,
    initial: InitialBinding | undefined,
    attach: (conn: LocalConnection, moved: boolean) => void,
  ): Promise<ResumeOutcome> {
    const token = parseResumeToken(hello.resume ?? '');
    if (!token) return this.refused('malformed');
    const secret = createResumeSecret();
    const presented = hashResumeSecret(token.secret);
    let conn: LocalConnection;
    let previousClientId = token.clientId;
    try {
      const adopted = await this.engine.adopt(token.clientId, presented);
      if (adopted.status === 'not_found' || adopted.status === 'refused') return this.refused(adopted.status);
      if (adopted.status === 'local') {
        conn = adopted.conn;
        if (isClosed(socket)) return { kind: 'gone' };
        if (!this.sameUser(conn.uid, initial)) return this.refused('refused');
        this.replaceSocket(conn, socket);
        attach(conn, false);
      } else {
        // Offered to this node until it releases the original: one it does not release (another user's login, a
        // socket gone meanwhile) lapses, and stays resumable with the same token.
        const record = adopted.record;
        previousClientId = record.clientId;
        if (!this.sameUser(record.uid, initial) || isClosed(socket)) {
          await this.engine.forgo(record);
          return isClosed(socket) ? { kind: 'gone' } : this.refused('refused');
        }
        conn = this.adoptedConnection(record, socket, remoteAddress);
        if (!(await this.takeOver(conn, record, socket))) return { kind: 'gone' };
        attach(conn, true);
        if (isClosed(socket)) return { kind: 'dropped', conn };
      }
    } catch (error) {
      if (error instanceof PushEngineUnavailableError) return { kind: 'retry', message: error.message };
      throw error;
    }
    const recovered = await this.replay(conn, socket, hello, previousClientId, secret);
    if (recovered === null) return { kind: 'gone' };
    // The index learns the new secret (and that it is attached again) once the client has it.
    await this.engine.reattach(conn);
    this.metrics.resumes.succeeded++;
    if (!recovered) this.metrics.resumes.unrecovered++;
    return { kind: 'resumed', conn, previousClientId, recovered };
  }

  /**
   * Registers the copy of a connection taken over from another node, then releases the original. If either fails, or
   * the socket closed before the release, the copy goes again and the original's offer lapses: the client tries
   * again with the same token. False when the socket closed first.
   */
  private async takeOver(conn: LocalConnection, record: AdoptedRecord, socket: WebSocket): Promise<boolean> {
    try {
      await this.engine.register(conn, { uid: record.uid, groups: record.groups, session: record.session });
      if (isClosed(socket)) {
        await this.engine.unregister(conn);
        await this.engine.forgo(record);
        return false;
      }
      await this.engine.release(record);
      return true;
    } catch (error) {
      await this.engine.unregister(conn).catch(() => this.registry.remove(conn));
      await this.engine.forgo(record);
      throw error;
    }
  }

  /** The old socket (if the server had not noticed it died) is replaced: told with 4001, then cut. */
  private replaceSocket(conn: LocalConnection, socket: WebSocket): void {
    if (!this.registry.isDetached(conn)) {
      this.metrics.resumes.replaced++;
      this.registry.close(conn, PushCloseCode.replaced, 'replaced');
    }
    this.registry.reattach(conn, socket);
  }

  /**
   * A connection adopted from another node: a new client_id here, with where it joined each history (its secret is
   * set with its welcome).
   */
  private adoptedConnection(record: AdoptedRecord, socket: WebSocket, remoteAddress: string | undefined): LocalConnection {
    const conn = new LocalConnection(createClientId(this.engine.nodeId), socket, remoteAddress);
    const { state } = newResumeState();
    state.since = new Map(record.since);
    state.historyLost = record.historyLost;
    conn.resume = state;
    return conn;
  }

  /**
   * Reads what the connection missed and writes the welcome (with the token of `secret`, its secret from then on), the
   * missed messages and what arrived meanwhile. Returns whether the replay is complete; null when the socket closed
   * before the welcome was written (the connection keeps the secret its client holds). A history that cannot be read
   * is reported as not recovered, never silently.
   */
  private async replay(
    conn: LocalConnection,
    socket: WebSocket,
    hello: HelloFrame,
    previousClientId: string,
    secret: string,
  ): Promise<boolean | null> {
    const resume = conn.resume!;
    // Its old client_id's history: what was sent to it while it was away (a new one starts empty).
    const targets = connectionTargets(conn, previousClientId);
    const reads: HistoryRead[] = targets.map((target) => {
      const key = targetKey(target);
      return { key, target, cursors: [hello.cursors.get(key), joinedAt(resume, key)] };
    });
    let results;
    try {
      results = await this.engine.readHistory(reads);
    } catch (error) {
      this.logger.warn(`could not read the history of ${conn.id}: ${(error as Error).message}`);
      results = reads.map((read) => ({ key: read.key, epoch: null, after: 0, entries: [], complete: false }));
    }
    const memberOf = new Set(targets.map(targetKey));
    const plan = planReplay(results, memberOf, previousClientId);
    const recovered = plan.complete && !resume.historyLost;
    const written = await this.registry.release(
      conn,
      socket,
      () => {
        resume.secretHash = keptSecretHash(secret);
        resume.issued = true;
        resume.historyLost = false; // reported now: the client reloads its state
        this.registry.write(conn, this.welcome(conn, secret, { resumed: true, recovered, previousClientId }));
        for (const frame of plan.frames) this.registry.write(conn, frame);
      },
      plan.upTo,
    );
    if (!written) return null;
    this.metrics.resumes.replayedMessages += plan.frames.length;
    return recovered;
  }

  private sameUser(uid: string | null, initial: InitialBinding | undefined): boolean {
    return !initial?.uid || initial.uid === uid;
  }

  private refused(reason: ResumeRefusal): ResumeOutcome {
    this.metrics.resumes.refused++;
    return { kind: 'refused', reason };
  }
}

/** Whether the socket has closed (its close event has been emitted). */
function isClosed(socket: WebSocket): boolean {
  return socket.readyState === WebSocket.CLOSED;
}


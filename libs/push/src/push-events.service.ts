import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Observable, Subject, filter } from 'rxjs';
import type {
  PushCloseEvent,
  PushConnectEvent,
  PushDetachEvent,
  PushEvent,
  PushInboundMessageEvent,
  PushResumeEvent,
} from './interfaces/push-event.interface';

/**
 * The connection events of this node's sockets, as rxjs Observables. Subscribe from any provider of the app
 * (for example in `onModuleInit`); the library never needs editing to react to a connect, message or close.
 * Events are local: each node sees the connections it holds.
 */
@Injectable()
export class PushEvents implements OnApplicationShutdown {
  private readonly subject = new Subject<PushEvent>();

  /** Every event, in order. */
  readonly events$: Observable<PushEvent> = this.subject.asObservable();
  /** A connection was accepted and received its init frame. */
  readonly connect$: Observable<PushConnectEvent> = this.events$.pipe(
    filter((e): e is PushConnectEvent => e.type === 'connect'),
  );
  /** A client sent `{"type":"message","data":…}` (only when `inbound` is on). */
  readonly message$: Observable<PushInboundMessageEvent> = this.events$.pipe(
    filter((e): e is PushInboundMessageEvent => e.type === 'message'),
  );
  /** A connection closed for good; the event carries the uid, groups and session it had. */
  readonly close$: Observable<PushCloseEvent> = this.events$.pipe(
    filter((e): e is PushCloseEvent => e.type === 'close'),
  );
  /** A resumable connection dropped and waits to be resumed (it keeps its bindings; pushes to it are held). */
  readonly detach$: Observable<PushDetachEvent> = this.events$.pipe(
    filter((e): e is PushDetachEvent => e.type === 'detach'),
  );
  /** A connection resumed on this node, with its bindings (and a new client_id if it came from another node). */
  readonly resume$: Observable<PushResumeEvent> = this.events$.pipe(
    filter((e): e is PushResumeEvent => e.type === 'resume'),
  );

  /**
   * @internal Called by the gateway. Subscribers run synchronously inside the socket's event handler, so keep
   * them short and catch their own errors (rxjs rethrows an uncaught one asynchronously).
   */
  emit(event: PushEvent): void {
    this.subject.next(event);
  }

  // Not onModuleDestroy: that runs before the gateway drains, and the drain's close events must still be seen.
  onApplicationShutdown(): void {
    this.subject.complete();
  }
}

import type { PushSession } from './push-message.interface';

/** What the engine knows of one live connection, wherever in the cluster it is held. */
export interface ClientInfo {
  /** The connection's client_id. */
  clientId: string;
  /** The uid bound to it, or `null` when none is bound. */
  uid: string | null;
  /** The groups it belongs to. */
  groups: string[];
  /** Its session object (`{}` until something is written). */
  session: PushSession;
}

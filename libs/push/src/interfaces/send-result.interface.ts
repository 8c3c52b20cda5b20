/**
 * What a send did. A connection can be dropped and resumable (the official client's protocol): a message for it is
 * then not written to any socket but held in history, and it receives it when it resumes within `resume.window`.
 */
export interface SendResult {
  /**
   * Connections the message was written to: a socket of this node, or, on a cluster engine, a connection another
   * node holds attached (counted from the index, as the send's `Promise<number>` always has been).
   */
  delivered: number;
  /** Dropped resumable connections the message is held for (they get it if they resume in time). */
  held: number;
}

/** Who `PushService.send` sends to: exactly one of these. */
export type PushTarget =
  | { clientId: string }
  | { clientIds: string[] }
  | { uid: string | string[] }
  | { group: string | string[] }
  | { all: true };

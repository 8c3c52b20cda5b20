import { randomBytes } from 'node:crypto';

/*
 * A client_id is 48 lowercase hex characters: 16 for the node that holds the socket, then 32 (128 random bits)
 * for the connection. The random part makes it unguessable, so holding one proves a page owns that socket;
 * the node part lets a cluster route a call to the one node that holds it without asking anybody.
 * Random node ids (not host names or pids) keep ids unique across restarts and machines.
 */
const NODE_HEX = 16;
/** Characters of a node id: the first part of every client_id. */
export const NODE_ID_LENGTH = NODE_HEX;
const CONN_HEX = 32;
const CLIENT_ID_RE = /^[0-9a-f]{48}$/;
const NODE_ID_RE = /^[0-9a-f]{16}$/;

/** Length of every client_id. */
export const CLIENT_ID_LENGTH = NODE_HEX + CONN_HEX;

/** A fresh random node id (64 bits, 16 hex characters). */
export function createNodeId(): string {
  return randomBytes(NODE_HEX / 2).toString('hex');
}

/** True for a string that is a valid node id. */
export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID_RE.test(value);
}

/** A fresh client_id held by `nodeId`: never reused, 128 unguessable bits. */
export function createClientId(nodeId: string): string {
  return nodeId + randomBytes(CONN_HEX / 2).toString('hex');
}

/** True for a string of the client_id shape (it says nothing of whether it is connected). */
export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID_RE.test(value);
}

/** The node id embedded in a well-formed client_id. */
export function nodeIdOf(clientId: string): string {
  return clientId.slice(0, NODE_HEX);
}

import type { TargetRef } from '../../history/target-key';
import { nodeIdOf } from '../../identity/client-id';
import type { ClusterRoute } from '../cluster/cluster-transport';

/**
 * Every Redis key and channel name of the Redis engines, and nothing else builds one (the Lua scripts receive them
 * as KEYS). P is the prefix (`push:` by default, plus `db<N>:` on a database other than 0, because pub/sub is
 * server-wide).
 *
 * The layout is the same on one Redis and on Redis Cluster: the part in braces is the hash tag, so what one command
 * or script touches shares one slot, and the channel of a uid or group lives in the slot of its members (sharded
 * pub/sub then publishes on the shard that counted them):
 *
 *   slot {all}       P{all}nodes         zset  node id → liveness expiry (ms, Redis clock)
 *                    P{all}clients       set   every client_id                    (countClients, sendToAll's count)
 *                    P{all}d             set   the client_ids of dropped resumable connections (held, not written)
 *                    P{all}r             set   the client_ids on the resumable protocol (only then a history is kept)
 *                    P{all}h / P{all}hm  stream / hash   everyone's history (resume) and its epoch, sequence, bytes
 *                    P{all}uids          hash  uid → how many nodes host it      (countUids / getAllUids)
 *                    P{all}groups        hash  group → how many nodes host it
 *                    P{all}hu:by-name    zset  `uid NUL node` for each node hosting a uid (lexical ranges)
 *                    P{all}hu:by-node    zset  `node NUL uid`: what a leaving or dead node takes from the counts
 *                    P{all}hg:by-name / P{all}hg:by-node     the same for groups
 *                    P{all}reap:<node>   str   the reap lock of a dead node
 *                    P{all}stats:<node>  str   the node's NodeStats JSON, PX 3 × interval (the dashboard)
 *                    P{all}ch            channel: everyone
 *   slot {n:<node>}  P{n:<node>}clients  set   the client_ids a node holds (what a crash leaves for the reaper)
 *                    P{n:<node>}c:<cid>  hash  uid, session (JSON); a resumable one also: rs (its secret's SHA-256),
 *                                              s:<history key> (where it joined that history), hl, gen, mv
 *                    P{n:<node>}cg:<cid> set   its groups
 *                    P{n:<node>}r        set   its resumable (official client) connections
 *                    P{n:<node>}d        set   its dropped resumable connections;  P{n:<node>}dz  zset  cid → until
 *                    P{n:<node>}h:<cid> / P{n:<node>}hm:<cid>   a client_id's history and its epoch, sequence, bytes
 *                    P{n:<node>}conv     str   set once a reaper converted a gone node's connections (see reap)
 *                    P{n:<node>}ch       channel: one node (calls, replies, pushes to its client_ids)
 *   slot {u:<uid>}   P{u:<uid>}m         set   the client_ids bound to a uid;  P{u:<uid>}ch  its channel
 *                    P{u:<uid>}d         set   those of them dropped and resumable;  P{u:<uid>}r  those resumable
 *                    P{u:<uid>}h / P{u:<uid>}hm   the uid's history
 *   slot {g:<group>} P{g:<group>}m       set   a group's client_ids;           P{g:<group>}ch its channel
 *                    P{g:<group>}d, P{g:<group>}r, P{g:<group>}h / P{g:<group>}hm   as for a uid
 *
 * A connection's entries live in its node's slot (the node part of a client_id names it), so its holder writes them
 * in one script. Names are injective: a uid or group containing braces still gives distinct keys (the fixed
 * suffixes end them), and it only moves the hash tag, consistently for its set and its channel.
 */
export class RedisKeys {
  readonly nodes: string;
  readonly clients: string;
  readonly uids: string;
  readonly groups: string;
  readonly allChannel: string;
  /** Everyone's dropped resumable connections. */
  readonly allDetached: string;

  constructor(readonly prefix: string) {
    this.nodes = `${prefix}{all}nodes`;
    this.clients = `${prefix}{all}clients`;
    this.uids = `${prefix}{all}uids`;
    this.groups = `${prefix}{all}groups`;
    this.allChannel = `${prefix}{all}ch`;
    this.allDetached = `${prefix}{all}d`;
  }

  /** Which nodes host each uid (`uid`) or group, as `name NUL node` members of a sorted set (lexical ranges). */
  hostsByName(kind: 'uid' | 'group'): string {
    return `${this.prefix}{all}${kind === 'uid' ? 'hu' : 'hg'}:by-name`;
  }

  /** Which uids or groups each node hosts, as `node NUL name` members of a sorted set. */
  hostsByNode(kind: 'uid' | 'group'): string {
    return `${this.prefix}{all}${kind === 'uid' ? 'hu' : 'hg'}:by-node`;
  }

  /** The count hash of uids or groups. */
  hostCounts(kind: 'uid' | 'group'): string {
    return kind === 'uid' ? this.uids : this.groups;
  }

  reapLock(node: string): string {
    return `${this.prefix}{all}reap:${node}`;
  }

  nodeStats(node: string): string {
    return `${this.prefix}{all}stats:${node}`;
  }

  nodeClients(node: string): string {
    return `${this.prefix}{n:${node}}clients`;
  }

  /** The hash of a connection (in its node's slot). */
  connection(clientId: string): string {
    return `${this.prefix}{n:${nodeIdOf(clientId)}}c:${clientId}`;
  }

  /** The group set of a connection (in its node's slot). */
  connectionGroups(clientId: string): string {
    return `${this.prefix}{n:${nodeIdOf(clientId)}}cg:${clientId}`;
  }

  nodeChannel(node: string): string {
    return `${this.prefix}{n:${node}}ch`;
  }

  uidMembers(uid: string): string {
    return `${this.prefix}{u:${uid}}m`;
  }

  uidChannel(uid: string): string {
    return `${this.prefix}{u:${uid}}ch`;
  }

  groupMembers(group: string): string {
    return `${this.prefix}{g:${group}}m`;
  }

  groupChannel(group: string): string {
    return `${this.prefix}{g:${group}}ch`;
  }

  /** A node's resumable connections. */
  nodeResumable(node: string): string {
    return `${this.prefix}{n:${node}}r`;
  }

  /** A node's dropped resumable connections. */
  nodeDetached(node: string): string {
    return `${this.prefix}{n:${node}}d`;
  }

  /** A node's dropped resumable connections, scored by when their window ends (ms). */
  nodeDeadlines(node: string): string {
    return `${this.prefix}{n:${node}}dz`;
  }

  /** Set once a reaper has turned a gone node's connections into resumable (or removed) ones. */
  nodeConverted(node: string): string {
    return `${this.prefix}{n:${node}}conv`;
  }

  /** The member set of a target: a uid's, a group's, everyone's, or a node's (for a client_id). */
  targetMembers(target: TargetRef): string {
    switch (target.kind) {
      case 'all':
        return this.clients;
      case 'uid':
        return this.uidMembers(target.name);
      case 'group':
        return this.groupMembers(target.name);
      case 'client':
        return this.nodeClients(nodeIdOf(target.name));
    }
  }

  /** The set of a target's members that are dropped and resumable. */
  targetDetached(target: Exclude<TargetRef, { kind: 'client' }>): string {
    switch (target.kind) {
      case 'all':
        return this.allDetached;
      case 'uid':
        return `${this.prefix}{u:${target.name}}d`;
      case 'group':
        return `${this.prefix}{g:${target.name}}d`;
    }
  }

  /** The set of a target's members on the resumable protocol: only a target with one keeps a history. */
  targetResumable(target: Exclude<TargetRef, { kind: 'client' }>): string {
    switch (target.kind) {
      case 'all':
        return `${this.prefix}{all}r`;
      case 'uid':
        return `${this.prefix}{u:${target.name}}r`;
      case 'group':
        return `${this.prefix}{g:${target.name}}r`;
    }
  }

  /** A target's history (a stream) and its meta (a hash: epoch, sequence, bytes): one slot with its members. */
  history(target: TargetRef): [stream: string, meta: string] {
    switch (target.kind) {
      case 'all':
        return [`${this.prefix}{all}h`, `${this.prefix}{all}hm`];
      case 'uid':
        return [`${this.prefix}{u:${target.name}}h`, `${this.prefix}{u:${target.name}}hm`];
      case 'group':
        return [`${this.prefix}{g:${target.name}}h`, `${this.prefix}{g:${target.name}}hm`];
      case 'client': {
        const tag = `${this.prefix}{n:${nodeIdOf(target.name)}}`;
        return [`${tag}h:${target.name}`, `${tag}hm:${target.name}`];
      }
    }
  }

  /** The member set of a uid or group. */
  members(kind: 'uid' | 'group', name: string): string {
    return kind === 'uid' ? this.uidMembers(name) : this.groupMembers(name);
  }

  /** The channel of a route. */
  channel(route: ClusterRoute): string {
    switch (route.kind) {
      case 'node':
        return this.nodeChannel(route.node);
      case 'uid':
        return this.uidChannel(route.name);
      case 'group':
        return this.groupChannel(route.name);
      case 'all':
        return this.allChannel;
    }
  }

  /** The route of a channel this engine subscribes to, or null for any other channel. */
  route(channel: string): ClusterRoute | null {
    if (!channel.startsWith(this.prefix) || !channel.endsWith('}ch')) return null;
    const name = channel.slice(this.prefix.length);
    if (name === '{all}ch') return { kind: 'all' };
    const inner = name.slice(3, -3);
    if (name.startsWith('{n:')) return { kind: 'node', node: inner };
    if (name.startsWith('{u:')) return { kind: 'uid', name: inner };
    if (name.startsWith('{g:')) return { kind: 'group', name: inner };
    return null;
  }
}

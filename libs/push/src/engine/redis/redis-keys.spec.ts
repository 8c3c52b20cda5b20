import { createClientId, createNodeId } from '../../identity/client-id';
import type { ClusterRoute } from '../cluster/cluster-transport';
import { keySlot } from '../../../../../test/support/redis-cluster';
import { RedisKeys } from './redis-keys';

const names = ['plain', 'a}m', '{x}', '}', '{', 'a:b:c', 'u:x', 'n:y', '', 'ü日本🙂', 'x}ch', '{all}', 'a}m}m'];

describe('RedisKeys', () => {
  const keys = new RedisKeys('push:');
  const node = createNodeId();

  it('channel(route) → route(channel) round-trips for every kind and awkward names', () => {
    const routes: ClusterRoute[] = [{ kind: 'all' }, { kind: 'node', node }];
    for (const name of names) routes.push({ kind: 'uid', name }, { kind: 'group', name });
    for (const route of routes) expect(keys.route(keys.channel(route))).toEqual(route);
  });

  it('route() ignores channels of another prefix or that are not channels', () => {
    expect(keys.route('other:{all}ch')).toBeNull();
    expect(keys.route(keys.uidMembers('x'))).toBeNull();
    expect(keys.route('push:{z:x}ch')).toBeNull();
  });

  it('names are injective: no two uids, groups or kinds share a key or channel', () => {
    const seen = new Map<string, string>();
    const add = (key: string, what: string) => {
      expect(seen.get(key) ?? what).toBe(what);
      seen.set(key, what);
    };
    for (const name of names) {
      add(keys.uidMembers(name), `uid members ${name}`);
      add(keys.uidChannel(name), `uid channel ${name}`);
      add(keys.groupMembers(name), `group members ${name}`);
      add(keys.groupChannel(name), `group channel ${name}`);
    }
    for (const key of [keys.nodes, keys.clients, keys.uids, keys.groups, keys.allChannel]) add(key, key);
    expect(seen.size).toBe(names.length * 4 + 5);
  });

  it("every key of one connection, and its node's keys, share one slot", () => {
    const clientId = createClientId(node);
    const slot = keySlot(keys.nodeClients(node));
    expect(keySlot(keys.connection(clientId))).toBe(slot);
    expect(keySlot(keys.connectionGroups(clientId))).toBe(slot);
    expect(keySlot(keys.nodeChannel(node))).toBe(slot);
  });

  it('the {all} keys share one slot', () => {
    const slot = keySlot(keys.nodes);
    for (const key of [keys.clients, keys.uids, keys.groups, keys.allChannel, keys.hostsByName('uid'),
      keys.hostsByNode('group'), keys.reapLock(node), keys.nodeStats(node)]) {
      expect(keySlot(key)).toBe(slot);
    }
  });

  it("a uid's or group's member set and channel share a slot, whatever braces the name holds", () => {
    for (const name of names) {
      expect(keySlot(keys.uidChannel(name))).toBe(keySlot(keys.uidMembers(name)));
      expect(keySlot(keys.groupChannel(name))).toBe(keySlot(keys.groupMembers(name)));
    }
  });
});

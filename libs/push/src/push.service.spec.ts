import { MemoryEngine } from './engine/memory.engine';
import { PushClientNotFoundError, PushInvalidArgumentError } from './errors/push.errors';
import { createClientId, createNodeId } from './identity/client-id';
import { LocalRegistry } from './local/local-registry';
import { PushMetrics } from './push-metrics.service';
import { resolvePushOptions } from './push-options';
import { PushService } from './push.service';

/** Runs `call` so that a synchronous throw and a rejected promise both end up as the returned promise's rejection. */
async function rejection(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** Every PushService call that takes an argument (README API table); each must have a bad-argument case below. */
const PUBLIC_CALLS_WITH_ARGUMENTS = [
  'sendToClient',
  'sendToUid',
  'sendToGroup',
  'sendToAll',
  'bindUid',
  'unbindUid',
  'joinGroup',
  'leaveGroup',
  'ungroup',
  'closeClient',
  'destroyClient',
  'closeUid',
  'setSession',
  'updateSession',
  'getSession',
  'isOnline',
  'isUidOnline',
  'isUidsOnline',
  'getClientIdByUid',
  'batchGetClientIdByUid',
  'getUidByClientId',
  'getGroupsByClientId',
  'getAllClientSessions',
  'getClientIdCountByGroup',
  'batchGetClientIdCountByGroup',
  'getClientIdListByGroup',
  'getClientSessionsByGroup',
  'getUidListByGroup',
  'getUidCountByGroup',
];

describe('PushService', () => {
  let metrics: PushMetrics;
  let engine: MemoryEngine;
  let service: PushService;

  const known = createClientId(createNodeId()); // well-formed, never connected
  const other = createClientId(createNodeId());
  const malformed = 'not-a-client-id';
  const tooLong = 'x'.repeat(257); // default maxIdLength is 256
  /** Strings with a lone UTF-16 surrogate (`!isWellFormed()`), each labelled for the test name. */
  const ILL_FORMED: [string, string][] = [
    ['"\\ud800" (lone high surrogate)', '\ud800'],
    ['"\\udfff" (lone low surrogate)', '\udfff'],
    ['"a\\ud83db" (high surrogate inside)', 'a\ud83db'],
    ['"\\ude00\\ud83d" (a pair in the wrong order)', '\ude00\ud83d'],
  ];
  const circular = (() => {
    const value: Record<string, unknown> = { a: 1 };
    value.self = value;
    return value;
  })();

  beforeEach(async () => {
    metrics = new PushMetrics();
    engine = new MemoryEngine();
    await engine.init({ registry: new LocalRegistry({ maxBufferedBytes: 1024 }, metrics), metrics });
    service = new PushService(engine, resolvePushOptions({}), metrics);
  });

  describe('rejects malformed arguments with PushInvalidArgumentError (400)', () => {
    type Call = (s: PushService) => unknown;
    const cases: [string, Call][] = [
      // send
      ['sendToClient: malformed client_id', (s) => s.sendToClient(malformed, 'x')],
      ['sendToClient: non-string client_id', (s) => s.sendToClient(42 as never, 'x')],
      ['sendToClient: upper-case client_id', (s) => s.sendToClient(known.toUpperCase(), 'x')],
      ['sendToClient: undefined message', (s) => s.sendToClient(known, undefined as never)],
      ['sendToClient: circular message', (s) => s.sendToClient(known, circular as never)],
      ['sendToUid: empty uid', (s) => s.sendToUid('', 'x')],
      ['sendToUid: over-long uid', (s) => s.sendToUid(tooLong, 'x')],
      ['sendToUid: non-string uid', (s) => s.sendToUid(7 as never, 'x')],
      ['sendToUid: a bad uid in a list', (s) => s.sendToUid(['ok', ''], 'x')],
      ['sendToUid: undefined message', (s) => s.sendToUid('u', undefined as never)],
      ['sendToUid: circular message', (s) => s.sendToUid('u', circular as never)],
      ['sendToUid: undefined message to nobody', (s) => s.sendToUid([], undefined as never)],
      ['sendToGroup: empty group', (s) => s.sendToGroup('', 'x')],
      ['sendToGroup: over-long group', (s) => s.sendToGroup(tooLong, 'x')],
      ['sendToGroup: a bad group in a list', (s) => s.sendToGroup(['g', tooLong], 'x')],
      ['sendToGroup: null group', (s) => s.sendToGroup(null as never, 'x')],
      ['sendToGroup: malformed exclude', (s) => s.sendToGroup('g', 'x', { exclude: malformed })],
      ['sendToGroup: malformed id in exclude list', (s) => s.sendToGroup('g', 'x', { exclude: [known, malformed] })],
      ['sendToGroup: undefined message', (s) => s.sendToGroup('g', undefined as never)],
      ['sendToGroup: circular message', (s) => s.sendToGroup('g', circular as never)],
      ['sendToAll: undefined message', (s) => s.sendToAll(undefined as never)],
      ['sendToAll: circular message', (s) => s.sendToAll(circular as never)],
      ['sendToAll: clientIds not an array', (s) => s.sendToAll('x', { clientIds: known as never })],
      ['sendToAll: malformed id in clientIds', (s) => s.sendToAll('x', { clientIds: [known, malformed] })],
      ['sendToAll: malformed exclude', (s) => s.sendToAll('x', { exclude: malformed })],
      ['sendToAll: exclude not a list of strings', (s) => s.sendToAll('x', { exclude: [1] as never })],
      // bind
      ['bindUid: malformed client_id', (s) => s.bindUid(malformed, 'u')],
      ['bindUid: empty uid', (s) => s.bindUid(known, '')],
      ['bindUid: over-long uid', (s) => s.bindUid(known, tooLong)],
      ['bindUid: non-string uid', (s) => s.bindUid(known, 1 as never)],
      ['unbindUid: malformed client_id', (s) => s.unbindUid(malformed)],
      ['joinGroup: malformed client_id', (s) => s.joinGroup(malformed, 'g')],
      ['joinGroup: empty group', (s) => s.joinGroup(known, '')],
      ['joinGroup: over-long group', (s) => s.joinGroup(known, tooLong)],
      ['leaveGroup: malformed client_id', (s) => s.leaveGroup(malformed, 'g')],
      ['leaveGroup: empty group', (s) => s.leaveGroup(known, '')],
      ['leaveGroup: over-long group', (s) => s.leaveGroup(known, tooLong)],
      ['ungroup: empty group', (s) => s.ungroup('')],
      ['ungroup: over-long group', (s) => s.ungroup(tooLong)],
      // control
      ['closeClient: malformed client_id', (s) => s.closeClient(malformed)],
      ['closeClient: circular final message', (s) => s.closeClient(known, circular as never)],
      ['destroyClient: malformed client_id', (s) => s.destroyClient(malformed)],
      ['closeUid: empty uid', (s) => s.closeUid('')],
      ['closeUid: over-long uid', (s) => s.closeUid(tooLong)],
      // session
      ['setSession: malformed client_id', (s) => s.setSession(malformed, {})],
      ['setSession: array session', (s) => s.setSession(known, [] as never)],
      ['setSession: null session', (s) => s.setSession(known, null as never)],
      ['setSession: undefined session', (s) => s.setSession(known, undefined as never)],
      ['setSession: string session', (s) => s.setSession(known, 'x' as never)],
      ['setSession: Date session', (s) => s.setSession(known, new Date() as never)],
      ['setSession: class instance session', (s) => s.setSession(known, new (class Session {})() as never)],
      ['setSession: circular session', (s) => s.setSession(known, circular)],
      ['setSession: session holding a bigint', (s) => s.setSession(known, { n: BigInt(1) })],
      ['updateSession: malformed client_id', (s) => s.updateSession(malformed, {})],
      ['updateSession: array patch', (s) => s.updateSession(known, [1] as never)],
      ['updateSession: circular patch', (s) => s.updateSession(known, circular)],
      ['setSession: toJSON turning it into a string', (s) => s.setSession(known, { toJSON: () => 'str' } as never)],
      ['setSession: toJSON returning undefined', (s) => s.setSession(known, { toJSON: () => undefined } as never)],
      ['updateSession: toJSON turning it into an array', (s) => s.updateSession(known, { toJSON: () => [1] } as never)],
      ['getSession: malformed client_id', (s) => s.getSession(malformed)],
      // online
      ['isOnline: malformed client_id', (s) => s.isOnline(malformed)],
      ['isUidOnline: empty uid', (s) => s.isUidOnline('')],
      ['isUidOnline: over-long uid', (s) => s.isUidOnline(tooLong)],
      ['isUidsOnline: a bad uid in the list', (s) => s.isUidsOnline(['u', ''])],
      // lookups
      ['getClientIdByUid: empty uid', (s) => s.getClientIdByUid('')],
      ['getClientIdByUid: over-long uid', (s) => s.getClientIdByUid(tooLong)],
      ['batchGetClientIdByUid: a bad uid in the list', (s) => s.batchGetClientIdByUid([tooLong])],
      ['getUidByClientId: malformed client_id', (s) => s.getUidByClientId(malformed)],
      ['getGroupsByClientId: malformed client_id', (s) => s.getGroupsByClientId(malformed)],
      // counts and lists
      ['getAllClientSessions: empty group', (s) => s.getAllClientSessions('')],
      ['getClientIdCountByGroup: empty group', (s) => s.getClientIdCountByGroup('')],
      ['getClientIdCountByGroup: over-long group', (s) => s.getClientIdCountByGroup(tooLong)],
      ['batchGetClientIdCountByGroup: a bad group in the list', (s) => s.batchGetClientIdCountByGroup(['g', ''])],
      ['getClientIdListByGroup: empty group', (s) => s.getClientIdListByGroup('')],
      ['getClientIdListByGroup: a bad group in the list', (s) => s.getClientIdListByGroup(['g', tooLong])],
      ['getClientSessionsByGroup: empty group', (s) => s.getClientSessionsByGroup('')],
      ['getUidListByGroup: over-long group', (s) => s.getUidListByGroup(tooLong)],
      ['getUidCountByGroup: empty group', (s) => s.getUidCountByGroup('')],
      // ill-formed strings (#9): a lone UTF-16 surrogate has no UTF-8 form (Redis turned it into U+FFFD, so
      // "\ud800" and "\ufffd" were the same group there)
      ...illFormedCases(),
    ];

    /** Every call that takes a uid or a group, with each ill-formed string in that place. */
    function illFormedCases(): [string, Call][] {
      const out: [string, Call][] = [];
      for (const [label, bad] of ILL_FORMED) {
        out.push(
          [`sendToUid: uid ${label}`, (s) => s.sendToUid(bad, 'x')],
          [`sendToUid: uid ${label} in a list`, (s) => s.sendToUid(['ok', bad], 'x')],
          [`sendToGroup: group ${label}`, (s) => s.sendToGroup(bad, 'x')],
          [`sendToGroup: group ${label} in a list`, (s) => s.sendToGroup(['g', bad], 'x')],
          [`bindUid: uid ${label}`, (s) => s.bindUid(known, bad)],
          [`joinGroup: group ${label}`, (s) => s.joinGroup(known, bad)],
          [`leaveGroup: group ${label}`, (s) => s.leaveGroup(known, bad)],
          [`ungroup: group ${label}`, (s) => s.ungroup(bad)],
          [`closeUid: uid ${label}`, (s) => s.closeUid(bad)],
          [`isUidOnline: uid ${label}`, (s) => s.isUidOnline(bad)],
          [`isUidsOnline: uid ${label} in the list`, (s) => s.isUidsOnline(['u', bad])],
          [`getClientIdByUid: uid ${label}`, (s) => s.getClientIdByUid(bad)],
          [`batchGetClientIdByUid: uid ${label} in the list`, (s) => s.batchGetClientIdByUid([bad])],
          [`getAllClientSessions: group ${label}`, (s) => s.getAllClientSessions(bad)],
          [`getClientIdCountByGroup: group ${label}`, (s) => s.getClientIdCountByGroup(bad)],
          [`batchGetClientIdCountByGroup: group ${label} in the list`, (s) => s.batchGetClientIdCountByGroup([bad])],
          [`getClientIdListByGroup: group ${label}`, (s) => s.getClientIdListByGroup(bad)],
          [`getClientIdListByGroup: group ${label} in a list`, (s) => s.getClientIdListByGroup(['g', bad])],
          [`getClientSessionsByGroup: group ${label}`, (s) => s.getClientSessionsByGroup(bad)],
          [`getUidListByGroup: group ${label}`, (s) => s.getUidListByGroup(bad)],
          [`getUidCountByGroup: group ${label}`, (s) => s.getUidCountByGroup(bad)],
        );
      }
      return out;
    }

    it.each(cases)('%s', async (_label, call) => {
      const error = await rejection(() => call(service));
      expect(error).toBeInstanceOf(PushInvalidArgumentError);
      expect((error as PushInvalidArgumentError).getStatus()).toBe(400);
      expect((error as PushInvalidArgumentError).code).toBe('invalid_argument');
      expect((error as PushInvalidArgumentError).getResponse()).toMatchObject({
        statusCode: 400,
        code: 'invalid_argument',
      });
    });

    // Issue 7 #12: 14 calls threw synchronously on a bad argument, so `push.sendToUid(bad, m).catch(log)` threw
    // straight out of the caller. Every call must return a promise, rejected on a bad argument.
    it.each(cases)('%s: returns a rejected promise, never throws (#12)', async (_label, call) => {
      let result: unknown;
      let thrown: unknown = null;
      try {
        result = call(service);
      } catch (error) {
        thrown = error;
      }
      expect({ threwSynchronously: thrown !== null }).toEqual({ threwSynchronously: false });
      expect(typeof (result as Promise<unknown> | undefined)?.then).toBe('function');
      await expect(result as Promise<unknown>).rejects.toBeInstanceOf(PushInvalidArgumentError);
    });

    it('the table covers every public call that takes an argument', () => {
      const covered = new Set(cases.map(([label]) => label.slice(0, label.indexOf(':'))));
      const missing = PUBLIC_CALLS_WITH_ARGUMENTS.filter((name) => !covered.has(name));
      expect(missing).toEqual([]);
      for (const name of PUBLIC_CALLS_WITH_ARGUMENTS) {
        expect(typeof (PushService.prototype as unknown as Record<string, unknown>)[name]).toBe('function');
      }
    });

    it('accepts well-formed strings beyond the BMP and U+FFFD itself (#9)', async () => {
      await expect(service.sendToGroup('\ud83d\ude00', 'x')).resolves.toBe(0);
      await expect(service.sendToUid(['\ufffd', 'caf\u00e9'], 'x')).resolves.toBe(0);
      await expect(service.getClientIdCountByGroup('\ufffd')).resolves.toBe(0);
    });

    it('rejects in both forms: a thrown error and a rejected promise are caught alike', async () => {
      // sendToClient validates before it has a promise to reject; getSession is async. Both must surface.
      await expect(async () => service.sendToClient(malformed, 'x')).rejects.toBeInstanceOf(PushInvalidArgumentError);
      await expect(async () => service.getSession(malformed)).rejects.toBeInstanceOf(PushInvalidArgumentError);
    });

    it('names the bad argument in the message', async () => {
      await expect(async () => service.bindUid(known, '')).rejects.toThrow(/uid must be a non-empty string/);
      await expect(async () => service.joinGroup(known, tooLong)).rejects.toThrow(/group must be at most 256 characters/);
      await expect(async () => service.sendToClient(malformed, 'x')).rejects.toThrow(/client_id must be a client_id/);
      await expect(async () => service.setSession(known, [] as never)).rejects.toThrow(/session must be a plain JSON object/);
      await expect(async () => service.setSession(known, circular)).rejects.toThrow(/session cannot be serialised/);
    });

    it('honours a custom maxIdLength, and accepts ids of exactly the limit', async () => {
      const short = new PushService(engine, resolvePushOptions({ maxIdLength: 4 }), metrics);
      await expect(async () => short.sendToUid('abcde', 'x')).rejects.toBeInstanceOf(PushInvalidArgumentError);
      await expect(short.sendToUid('abcd', 'x')).resolves.toBe(0);
      await expect(service.sendToUid('x'.repeat(256), 'x')).resolves.toBe(0);
      await expect(service.sendToGroup('x'.repeat(256), 'x')).resolves.toBe(0);
    });
  });

  describe('rejects a well-formed client_id that is not connected with PushClientNotFoundError (404)', () => {
    it.each([
      ['bindUid', (s: PushService) => s.bindUid(known, 'u')],
      ['unbindUid', (s: PushService) => s.unbindUid(known)],
      ['joinGroup', (s: PushService) => s.joinGroup(known, 'g')],
      ['leaveGroup', (s: PushService) => s.leaveGroup(known, 'g')],
      ['setSession', (s: PushService) => s.setSession(known, { a: 1 })],
      ['updateSession', (s: PushService) => s.updateSession(known, { a: 1 })],
    ])('%s', async (_label, call) => {
      const error = await rejection(() => call(service));
      expect(error).toBeInstanceOf(PushClientNotFoundError);
      expect((error as PushClientNotFoundError).getStatus()).toBe(404);
      expect(error).toMatchObject({ code: 'client_not_found', clientId: known });
    });
  });

  describe('empty targets', () => {
    it('sendToAll with an empty clientIds list sends to nobody', async () => {
      await expect(service.sendToAll('x', { clientIds: [] })).resolves.toBe(0);
      await expect(service.sendToAll('x', { clientIds: [], exclude: [known] })).resolves.toBe(0);
    });

    it('empty uid and group lists resolve 0 without asking the engine', async () => {
      const sendToUids = jest.spyOn(engine, 'sendToUids');
      const sendToGroups = jest.spyOn(engine, 'sendToGroups');
      await expect(service.sendToUid([], 'x')).resolves.toBe(0);
      await expect(service.sendToGroup([], 'x')).resolves.toBe(0);
      await expect(service.sendToGroup([], 'x', { exclude: [known] })).resolves.toBe(0);
      expect(sendToUids).not.toHaveBeenCalled();
      expect(sendToGroups).not.toHaveBeenCalled();
    });

    it('empty lists in batch queries answer empty records', async () => {
      await expect(service.isUidsOnline([])).resolves.toEqual({});
      await expect(service.batchGetClientIdByUid([])).resolves.toEqual({});
      await expect(service.batchGetClientIdCountByGroup([])).resolves.toEqual({});
      await expect(service.getClientIdListByGroup([])).resolves.toEqual([]);
    });
  });

  describe('on an empty node', () => {
    it('sends reach nobody and controls find nothing', async () => {
      await expect(service.sendToClient(known, 'x')).resolves.toBe(0);
      await expect(service.sendToUid('u', 'x')).resolves.toBe(0);
      await expect(service.sendToUid(['u', 'v'], { a: 1 })).resolves.toBe(0);
      await expect(service.sendToGroup('g', 'x', { exclude: known })).resolves.toBe(0);
      await expect(service.sendToGroup(['g', 'h'], Buffer.from('x'))).resolves.toBe(0);
      await expect(service.sendToAll('x')).resolves.toBe(0);
      await expect(service.sendToAll('x', { clientIds: [known, other], exclude: other })).resolves.toBe(0);
      await expect(service.closeClient(known)).resolves.toBe(false);
      await expect(service.closeClient(known, { type: 'bye' })).resolves.toBe(false);
      await expect(service.destroyClient(known)).resolves.toBe(false);
      await expect(service.closeUid('u')).resolves.toBe(0);
      await expect(service.ungroup('g')).resolves.toBe(0);
    });

    it('queries answer empty results, zeros, null and false', async () => {
      await expect(service.getSession(known)).resolves.toBeNull();
      await expect(service.isOnline(known)).resolves.toBe(false);
      await expect(service.isUidOnline('u')).resolves.toBe(false);
      await expect(service.isUidsOnline(['u', 'v'])).resolves.toEqual({ u: false, v: false });
      await expect(service.getClientIdByUid('u')).resolves.toEqual([]);
      await expect(service.batchGetClientIdByUid(['u', 'v'])).resolves.toEqual({ u: [], v: [] });
      await expect(service.getUidByClientId(known)).resolves.toBeNull();
      await expect(service.getGroupsByClientId(known)).resolves.toEqual([]);
      await expect(service.getAllClientIdCount()).resolves.toBe(0);
      await expect(service.getAllClientIdList()).resolves.toEqual([]);
      await expect(service.getAllClientSessions()).resolves.toEqual({});
      await expect(service.getAllClientSessions('g')).resolves.toEqual({});
      await expect(service.getClientIdCountByGroup('g')).resolves.toBe(0);
      await expect(service.batchGetClientIdCountByGroup(['g', 'h'])).resolves.toEqual({ g: 0, h: 0 });
      await expect(service.getClientIdListByGroup('g')).resolves.toEqual([]);
      await expect(service.getClientIdListByGroup(['g', 'h'])).resolves.toEqual([]);
      await expect(service.getClientSessionsByGroup('g')).resolves.toEqual({});
      await expect(service.getUidListByGroup('g')).resolves.toEqual([]);
      await expect(service.getUidCountByGroup('g')).resolves.toBe(0);
      await expect(service.getAllUidList()).resolves.toEqual([]);
      await expect(service.getAllUidCount()).resolves.toBe(0);
      await expect(service.getAllGroupIdList()).resolves.toEqual([]);
      await expect(service.getAllGroupUidList()).resolves.toEqual({});
      await expect(service.getAllGroupUidCount()).resolves.toEqual({});
      await expect(service.getAllGroupClientIdList()).resolves.toEqual({});
      await expect(service.getAllGroupClientIdCount()).resolves.toEqual({});
    });

    it('reports the engine node id and zeroed metrics', () => {
      expect(service.nodeId).toBe(engine.nodeId);
      const metrics = service.getMetrics();
      expect(metrics).toMatchObject({
        connectionsOpened: 0,
        connectionsClosed: 0,
        framesDelivered: 0,
        slowConsumerDrops: 0,
        heartbeatTimeouts: 0,
        payloadTooLarge: 0,
        badFrames: 0,
        engineResyncs: 0,
        // Issue 7 #7: every refusal by a limit is counted, under these names.
        rejectedUpgrades: { origin: 0, auth: 0, shuttingDown: 0, error: 0, authTimeout: 0, capacity: 0, perAddress: 0 },
        limitRefusals: { groups: 0, session: 0, fanoutQueue: 0 },
      });
      // Whatever else is counted starts at zero too.
      const leaves = (value: unknown): unknown[] =>
        typeof value === 'object' && value !== null ? Object.values(value).flatMap(leaves) : [value];
      expect(leaves(metrics).filter((v) => v !== 0)).toEqual([]);
    });

    it('getAllGroupIdCount counts groups (0 on an empty node)', async () => {
      const call = (service as unknown as { getAllGroupIdCount?: () => Promise<number> }).getAllGroupIdCount;
      expect(typeof call).toBe('function');
      await expect(call!.call(service)).resolves.toBe(0);
    });

    it('getMetrics returns a detached copy', () => {
      const snapshot = service.getMetrics();
      snapshot.rejectedUpgrades.origin = 99;
      snapshot.framesDelivered = 99;
      expect(metrics.rejectedUpgrades.origin).toBe(0);
      expect(metrics.framesDelivered).toBe(0);
    });
  });
});

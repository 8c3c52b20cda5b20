import {
  CLUSTER_PROTOCOL_VERSION,
  ClusterVersionError,
  decodeClusterMessage,
  encodeClusterMessage,
  type ClusterMessageBody,
} from './cluster-message';

/** A payload from a raw header object and body, bypassing the encoder (what another build could send). */
function raw(header: unknown, body = ''): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify(header) + '\n', 'utf8'), Buffer.from(body, 'utf8')]);
}

const v = CLUSTER_PROTOCOL_VERSION;

describe('cluster-message', () => {
  describe('encode → decode round trip', () => {
    const every: ClusterMessageBody[] = [
      { op: 'push' },
      { op: 'push', b: 1, x: ['c1', 'c2'] },
      { op: 'clients', c: ['a', 'b'] },
      { op: 'clients', b: 1, c: [] },
      { op: 'groups', g: ['g1', 'g}2'], x: ['c3'] },
      { op: 'groups', b: 1, g: ['g'] },
      { op: 'close-uid' },
      { op: 'ungroup' },
      { op: 'probe', id: 7 },
      { op: 'call', id: 1, c: 'cid', call: { fn: 'bind', uid: 'u\n1' } },
      { op: 'call', id: 2, c: 'cid', call: { fn: 'unbind' } },
      { op: 'call', id: 3, c: 'cid', call: { fn: 'join', group: 'g' } },
      { op: 'call', id: 4, c: 'cid', call: { fn: 'leave', group: 'g' } },
      { op: 'call', id: 5, c: 'cid', call: { fn: 'setSession', session: { a: 1, s: 'x\ny' } } },
      { op: 'call', id: 6, c: 'cid', call: { fn: 'updateSession', patch: { b: null } } },
      { op: 'call', id: 7, c: 'cid', call: { fn: 'close', destroy: false, final: true }, b: 1 },
      { op: 'reply', id: 8, r: { ok: true } },
      { op: 'reply', id: 9, e: 'boom' },
      { op: 'reply', id: 10, e: 'limit', k: 'too_many_groups', l: 5 },
    ];

    it.each(every.map((m) => [m.op, m] as const))('%s keeps its header and body', (_op, message) => {
      const textBody = Buffer.from('héllo\nworld\n{"v":2}\n', 'utf8');
      const binaryBody = Buffer.from([0x00, 0x0a, 0xff, 0x0a, 0x0a, 0x7b]);
      for (const body of [textBody, binaryBody]) {
        const decoded = decodeClusterMessage(encodeClusterMessage('node-a', message, body));
        expect(decoded.message).toEqual({ v, o: 'node-a', ...message });
        expect(Buffer.compare(decoded.body, body)).toBe(0);
      }
      const empty = decodeClusterMessage(encodeClusterMessage('node-a', message));
      expect(empty.message).toEqual({ v, o: 'node-a', ...message });
      expect(empty.body.length).toBe(0);
    });
  });

  describe('versions', () => {
    it('refuses a header without v, reporting the origin', () => {
      const error = catchError(() => decodeClusterMessage(raw({ o: 'old-node', op: 'push' }, 'x')));
      expect(error).toBeInstanceOf(ClusterVersionError);
      expect(error).toMatchObject({ version: undefined, origin: 'old-node' });
      expect((error as Error).message).toContain('old-node');
    });

    it('refuses v+1, reporting the version and origin', () => {
      const error = catchError(() => decodeClusterMessage(raw({ v: v + 1, o: 'new-node', op: 'brand-new' })));
      expect(error).toBeInstanceOf(ClusterVersionError);
      expect(error).toMatchObject({ version: v + 1, origin: 'new-node' });
    });

    it('refuses another version without an origin (origin undefined)', () => {
      const error = catchError(() => decodeClusterMessage(raw({ v: '1', op: 'push' })));
      expect(error).toBeInstanceOf(ClusterVersionError);
      expect(error).toMatchObject({ version: '1', origin: undefined });
    });
  });

  describe('malformed', () => {
    const malformed = (payload: Buffer, pattern: RegExp) => {
      const error = catchError(() => decodeClusterMessage(payload));
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ClusterVersionError);
      expect((error as Error).message).toMatch(pattern);
    };

    it('no newline', () => malformed(Buffer.from(JSON.stringify({ v, o: 'n', op: 'push' })), /no header/));
    it('bad JSON', () => malformed(Buffer.from('{"v":1,\n'), /malformed/));
    it('array header', () => malformed(raw([v, 'n', 'push']), /not an object/));
    it('null header', () => malformed(raw(null), /not an object/));
    it('no origin', () => malformed(raw({ v, op: 'push' }), /no origin/));
    it('bad binary flag', () => malformed(raw({ v, o: 'n', op: 'push', b: true }), /binary/));
    it('unknown op', () => malformed(raw({ v, o: 'n', op: 'explode' }), /unknown operation "explode"/));
    it('missing op', () => malformed(raw({ v, o: 'n' }), /unknown operation/));

    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['push x not an array', { op: 'push', x: 'c1' }, /bad x/],
      ['push x with a number', { op: 'push', x: ['c1', 2] }, /bad x/],
      ['clients without c', { op: 'clients' }, /bad c/],
      ['clients c of numbers', { op: 'clients', c: [1] }, /bad c/],
      ['groups without g', { op: 'groups' }, /bad g/],
      ['groups g a string', { op: 'groups', g: 'g' }, /bad g/],
      ['groups bad x', { op: 'groups', g: ['g'], x: {} }, /bad x/],
      ['probe without id', { op: 'probe' }, /bad id/],
      ['probe fractional id', { op: 'probe', id: 1.5 }, /bad id/],
      ['probe string id', { op: 'probe', id: '1' }, /bad id/],
      ['call without id', { op: 'call', c: 'cid', call: { fn: 'unbind' } }, /bad id/],
      ['call without client', { op: 'call', id: 1, call: { fn: 'unbind' } }, /bad client/],
      ['call without call', { op: 'call', id: 1, c: 'cid' }, /bad call/],
      ['call array call', { op: 'call', id: 1, c: 'cid', call: ['unbind'] }, /bad call/],
      ['bind without uid', { op: 'call', id: 1, c: 'cid', call: { fn: 'bind' } }, /bad uid/],
      ['bind numeric uid', { op: 'call', id: 1, c: 'cid', call: { fn: 'bind', uid: 1 } }, /bad uid/],
      ['join without group', { op: 'call', id: 1, c: 'cid', call: { fn: 'join' } }, /bad group/],
      ['leave numeric group', { op: 'call', id: 1, c: 'cid', call: { fn: 'leave', group: 3 } }, /bad group/],
      ['setSession string', { op: 'call', id: 1, c: 'cid', call: { fn: 'setSession', session: 's' } }, /bad session/],
      ['updateSession array', { op: 'call', id: 1, c: 'cid', call: { fn: 'updateSession', patch: [] } }, /bad patch/],
      ['close without final', { op: 'call', id: 1, c: 'cid', call: { fn: 'close', destroy: true } }, /bad close/],
      ['close string destroy', { op: 'call', id: 1, c: 'cid', call: { fn: 'close', destroy: 'y', final: false } }, /bad close/],
      ['unknown call fn', { op: 'call', id: 1, c: 'cid', call: { fn: 'format' } }, /unknown call "format"/],
      ['reply without id', { op: 'reply', r: 1 }, /bad id/],
      ['reply numeric error', { op: 'reply', id: 1, e: 500 }, /bad error/],
      ['reply unknown limit code', { op: 'reply', id: 1, e: 'x', k: 'no_such_limit' }, /bad limit code/],
    ];
    it.each(cases)('%s', (_name, fields, pattern) => malformed(raw({ v, o: 'n', ...fields }), pattern));
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

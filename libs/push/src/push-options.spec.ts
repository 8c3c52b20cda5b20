import { MemoryEngine } from './engine/memory.engine';
import { PUSH_DEFAULTS } from './push.constants';
import { resolvePushOptions } from './push-options';

describe('resolvePushOptions', () => {
  it('fills in every default', () => {
    const resolved = resolvePushOptions();
    expect(resolved).toEqual({
      engine: { type: 'memory' },
      heartbeat: { interval: 25_000, timeout: 60_000 },
      maxPayload: 16 * 1024,
      maxBufferedBytes: 4 * 1024 * 1024,
      allowedOrigins: null,
      requireOrigin: false,
      authenticate: null,
      initMessage: expect.any(Function),
      inbound: false,
      maxIdLength: 256,
      fanoutChunk: 1024,
      shutdownTimeout: 3_000,
      maxGroupsPerConnection: 100,
      maxSessionBytes: 16 * 1024,
      maxConnections: 50_000,
      maxConnectionsPerAddress: 1_000,
      authenticateTimeout: 10_000,
      maxFanoutQueue: 1_000_000,
      nodeStatsInterval: 2_000,
      resume: {
        window: 120_000,
        helloTimeout: 10_000,
        maxDetached: 50_000,
        history: { maxCount: 1_000, maxBytes: 1_048_576, maxAge: 300_000, maxTotalBytes: 67_108_864 },
      },
    });
    expect(resolved.initMessage('abc')).toEqual({ type: 'init', client_id: 'abc' });
    expect(resolvePushOptions({})).toEqual({ ...resolved, initMessage: expect.any(Function) });
    expect(resolved.heartbeat).toEqual(PUSH_DEFAULTS.heartbeat);
    expect(resolved.heartbeat).not.toBe(PUSH_DEFAULTS.heartbeat);
  });

  it.each([
    'maxGroupsPerConnection',
    'maxSessionBytes',
    'maxConnections',
    'maxConnectionsPerAddress',
    'authenticateTimeout',
    'maxFanoutQueue',
  ] as const)(
    'bounds %s: Infinity switches it off, zero, negatives and NaN are refused',
    (name) => {
      expect(resolvePushOptions({ [name]: Infinity })[name]).toBe(Infinity);
      expect(resolvePushOptions({ [name]: 3 })[name]).toBe(3);
      for (const bad of [0, -1, NaN]) {
        expect(() => resolvePushOptions({ [name]: bad })).toThrow(`PushModule: ${name} must be a positive number`);
      }
    },
  );

  it('keeps what the caller gave', () => {
    const engine = new MemoryEngine();
    const authenticate = () => true;
    const initMessage = (id: string) => `hello ${id}`;
    const resolved = resolvePushOptions({
      engine,
      heartbeat: { interval: 1_000, timeout: 1_000 },
      maxPayload: 1,
      maxBufferedBytes: 2,
      requireOrigin: true,
      authenticate,
      initMessage,
      inbound: true,
      maxIdLength: 3,
      shutdownTimeout: 0,
    });
    expect(resolved.engine).toBe(engine);
    expect(resolved.heartbeat).toEqual({ interval: 1_000, timeout: 1_000 });
    expect(resolved.maxPayload).toBe(1);
    expect(resolved.maxBufferedBytes).toBe(2);
    expect(resolved.requireOrigin).toBe(true);
    expect(resolved.authenticate).toBe(authenticate);
    expect(resolved.initMessage).toBe(initMessage);
    expect(resolved.inbound).toBe(true);
    expect(resolved.maxIdLength).toBe(3);
    expect(resolved.shutdownTimeout).toBe(0);
  });

  describe('heartbeat', () => {
    it('can be turned off', () => {
      expect(resolvePushOptions({ heartbeat: false }).heartbeat).toBe(false);
    });

    it('rejects a timeout shorter than the interval', () => {
      expect(() => resolvePushOptions({ heartbeat: { interval: 10_000, timeout: 9_999 } })).toThrow(
        'PushModule: heartbeat.timeout must be at least heartbeat.interval',
      );
      // The default timeout (60 s) is shorter than this interval.
      expect(() => resolvePushOptions({ heartbeat: { interval: 90_000 } as never })).toThrow(/heartbeat\.timeout/);
    });

    it('merges a partial object over the defaults', () => {
      expect(resolvePushOptions({ heartbeat: { timeout: 90_000 } as never }).heartbeat).toEqual({
        interval: 25_000,
        timeout: 90_000,
      });
    });

    it.each([
      ['interval', { interval: 0, timeout: 1_000 }],
      ['interval', { interval: -5, timeout: 1_000 }],
      ['interval', { interval: Number.NaN, timeout: 1_000 }],
      ['timeout', { interval: 1_000, timeout: 0 }],
      ['timeout', { interval: 1_000, timeout: Number.POSITIVE_INFINITY }],
    ])('rejects a non-positive or non-finite %s (%p)', (name, heartbeat) => {
      expect(() => resolvePushOptions({ heartbeat })).toThrow(`PushModule: heartbeat.${name} must be a positive number`);
    });
  });

  describe('numeric limits', () => {
    it.each([
      ['maxPayload', 0],
      ['maxPayload', -1],
      ['maxPayload', Number.NaN],
      ['maxBufferedBytes', 0],
      ['maxBufferedBytes', -1024],
      ['maxBufferedBytes', Number.POSITIVE_INFINITY],
      ['maxIdLength', 0],
      ['fanoutChunk', 0],
      ['maxIdLength', -1],
    ])('rejects %s = %p', (name, value) => {
      expect(() => resolvePushOptions({ [name]: value })).toThrow(`PushModule: ${name} must be a positive number`);
    });

    it.each([-1, Number.NaN])('rejects shutdownTimeout = %p', (value) => {
      expect(() => resolvePushOptions({ shutdownTimeout: value })).toThrow('PushModule: shutdownTimeout must be >= 0');
    });

    it('accepts a zero shutdownTimeout', () => {
      expect(resolvePushOptions({ shutdownTimeout: 0 }).shutdownTimeout).toBe(0);
    });
  });

  describe('nodeStatsInterval', () => {
    it('takes a positive number of ms, or false to stop publishing', () => {
      expect(resolvePushOptions({ nodeStatsInterval: 250 }).nodeStatsInterval).toBe(250);
      expect(resolvePushOptions({ nodeStatsInterval: false }).nodeStatsInterval).toBe(false);
    });

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, true, '1000'])('rejects %p', (value) => {
      expect(() => resolvePushOptions({ nodeStatsInterval: value as never })).toThrow(
        'PushModule: nodeStatsInterval must be a positive number of ms, or false',
      );
    });
  });

  describe('allowedOrigins', () => {
    it('is null (any origin) when unset', () => {
      expect(resolvePushOptions({}).allowedOrigins).toBeNull();
    });

    it('compares a list in serialised form', () => {
      const allowed = resolvePushOptions({ allowedOrigins: ['https://example.com', 'http://LOCALHOST:3000/'] }).allowedOrigins!;
      expect(allowed('https://example.com')).toBe(true);
      expect(allowed('https://EXAMPLE.com:443/')).toBe(true);
      expect(allowed('HTTPS://example.com')).toBe(true);
      expect(allowed('http://localhost:3000')).toBe(true);

      expect(allowed('http://example.com')).toBe(false);
      expect(allowed('https://example.com:8443')).toBe(false);
      expect(allowed('https://evil.example.com')).toBe(false);
      expect(allowed('https://example.com.evil.com')).toBe(false);
      expect(allowed('http://localhost:3001')).toBe(false);
      expect(allowed('http://localhost')).toBe(false);
      expect(allowed('')).toBe(false);
      expect(allowed('not an origin')).toBe(false);
    });

    it('compares non-http(s) origins verbatim, so one listed app scheme does not admit them all', () => {
      const allowed = resolvePushOptions({ allowedOrigins: ['capacitor://localhost'] }).allowedOrigins!;
      expect(allowed('capacitor://localhost')).toBe(true);
      expect(allowed('CAPACITOR://localhost')).toBe(true);
      expect(allowed('null')).toBe(false);
      expect(allowed('chrome-extension://evil')).toBe(false);
      expect(allowed('file://')).toBe(false);
    });

    it('allows nothing with an empty list', () => {
      const allowed = resolvePushOptions({ allowedOrigins: [] }).allowedOrigins!;
      expect(allowed('https://example.com')).toBe(false);
    });

    it('uses a predicate as given', () => {
      const predicate = (origin: string) => origin.endsWith('.example.com');
      const allowed = resolvePushOptions({ allowedOrigins: predicate }).allowedOrigins;
      expect(allowed).toBe(predicate);
      expect(allowed!('https://app.example.com')).toBe(true);
      expect(allowed!('https://example.org')).toBe(false);
    });
  });

  describe('resume.history.maxAge', () => {
    const maxAge = (options: Parameters<typeof resolvePushOptions>[0]) => {
      const resume = resolvePushOptions(options).resume;
      return resume ? resume.history.maxAge : null;
    };

    it('defaults to 5 min, or longer when the window needs it: window + heartbeat timeout + interval', () => {
      expect(maxAge({})).toBe(300_000);
      expect(maxAge({ resume: { window: 250_000 } })).toBe(250_000 + 60_000 + 25_000);
      expect(maxAge({ resume: { window: 250_000 }, heartbeat: false })).toBe(300_000);
      expect(maxAge({ resume: { window: 400_000 }, heartbeat: false })).toBe(400_000);
    });

    it('adds the time a Redis engine takes to find a killed node dead (nodeTtl + reapInterval)', () => {
      const engine = { type: 'redis' as const, nodeTtl: 60_000, reapInterval: 15_000 };
      expect(maxAge({ resume: { window: 250_000 }, engine })).toBe(250_000 + 85_000 + 75_000);
      expect(maxAge({ resume: { window: 250_000 }, engine: { type: 'redis' } })).toBe(250_000 + 85_000 + 12_500);
    });

    it('refuses a maxAge shorter than that: a client could resume after its missed messages expired', () => {
      expect(() => resolvePushOptions({ resume: { window: 120_000, history: { maxAge: 190_000 } } })).toThrow(
        /resume\.history\.maxAge \(190000 ms\) must be at least .* = 205000 ms/,
      );
      expect(maxAge({ resume: { window: 120_000, history: { maxAge: 205_000 } } })).toBe(205_000);
    });
  });
});

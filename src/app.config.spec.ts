import { loadConfig } from './app.config';

describe('REDIS_CLUSTER_NODES', () => {
  it('selects Redis Cluster with the listed nodes; other variables stay as they are', () => {
    const config = loadConfig({ PUSH_ENGINE: 'redis', REDIS_CLUSTER_NODES: '10.0.0.1:7000, 10.0.0.2:7001', PUSH_REDIS_PREFIX: 'app:' });
    expect(config.push.engine).toMatchObject({ type: 'redis', cluster: ['10.0.0.1:7000', '10.0.0.2:7001'], prefix: 'app:' });
  });

  it('is ignored with the memory engine and absent by default', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000' }).push.engine).toBeUndefined(); // the module's default: memory
    expect(loadConfig({ PUSH_ENGINE: 'redis' }).push.engine).not.toHaveProperty('cluster');
  });

  it('refuses a list that is not host:port', () => {
    expect(() => loadConfig({ PUSH_ENGINE: 'redis', REDIS_CLUSTER_NODES: '10.0.0.1' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ PUSH_ENGINE: 'redis', REDIS_CLUSTER_NODES: ' , ' })).toThrow(/REDIS_CLUSTER_NODES/);
  });
});

describe('PUSH_RESUME and PUSH_RESUME_WINDOW_MS', () => {
  it("leave the module's resume defaults on when unset", () => {
    expect(loadConfig({}).push.resume).toBeUndefined();
  });

  it('turn resume off, or set its window', () => {
    expect(loadConfig({ PUSH_RESUME: 'off' }).push.resume).toBe(false);
    expect(loadConfig({ PUSH_RESUME_WINDOW_MS: '5000' }).push.resume).toEqual({ window: 5000 });
    expect(loadConfig({ PUSH_RESUME: 'off', PUSH_RESUME_WINDOW_MS: '5000' }).push.resume).toBe(false);
  });

  it('refuse a malformed value', () => {
    expect(() => loadConfig({ PUSH_RESUME: 'maybe' })).toThrow(/PUSH_RESUME/);
    expect(() => loadConfig({ PUSH_RESUME_WINDOW_MS: '-1' })).toThrow(/PUSH_RESUME_WINDOW_MS/);
  });
});

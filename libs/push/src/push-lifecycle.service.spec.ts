import { type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { MemoryEngine } from './engine/memory.engine';
import { PushWsAdapter } from './gateway/push-ws.adapter';
import { PushModule } from './push.module';
import { PushService } from './push.service';
import { startupLine } from './push-lifecycle.service';

describe('the start-up line', () => {
  const nodeId = '0123456789abcdef';
  const app = { gateway: true, path: '/ws', port: 0 };

  it('names the node, the engine, the path and the gateway', () => {
    expect(startupLine(nodeId, { type: 'memory' }, app)).toBe(
      'push channel started: node=0123456789abcdef engine=memory gateway=on path=/ws port=app',
    );
  });

  it('gives the Redis URL without its user or password, and the prefix', () => {
    const line = startupLine(nodeId, { type: 'redis', url: 'redis://ops:s3cret@10.0.0.5:6379/2', prefix: 'chat:' }, app);
    expect(line).toBe(
      'push channel started: node=0123456789abcdef engine=redis url=redis://***@10.0.0.5:6379/2 prefix=chat: ' +
        'gateway=on path=/ws port=app',
    );
    expect(line).not.toMatch(/s3cret|ops/);
    // The defaults, when the options leave them out.
    expect(startupLine(nodeId, { type: 'redis' }, app)).toContain('url=redis://127.0.0.1:6379 prefix=push: ');
  });

  it('names the Redis Cluster nodes, or the caller-provided connections, instead of a URL', () => {
    const cluster = startupLine(nodeId, { type: 'redis', cluster: ['10.0.0.5:7000', { host: '10.0.0.6', port: 7001 }] }, app);
    expect(cluster).toContain('engine=redis cluster=10.0.0.5:7000,10.0.0.6:7001 prefix=push: ');
    expect(cluster).not.toContain('url=');
    expect(startupLine(nodeId, { type: 'redis', client: {} }, app)).toContain('engine=redis connections=client prefix=');
    expect(startupLine(nodeId, { type: 'redis', createClient: () => ({}) }, app)).toContain(
      'engine=redis connections=createClient prefix=',
    );
  });

  it('names a custom engine by its class, a separate port, and a push-only node', () => {
    class ShardedEngine extends MemoryEngine {}
    expect(startupLine(nodeId, new ShardedEngine(), { gateway: true, path: '/push', port: 8081 })).toBe(
      'push channel started: node=0123456789abcdef engine=ShardedEngine gateway=on path=/push port=8081',
    );
    expect(startupLine(nodeId, { type: 'memory' }, { ...app, gateway: false })).toBe(
      'push channel started: node=0123456789abcdef engine=memory gateway=off (push-only node)',
    );
  });

  it('is logged once per app, by the module, under the PushModule context', async () => {
    const logged: { message: string; context?: string }[] = [];
    const capture: LoggerService = {
      log: (message: string, context?: string) => logged.push({ message, context }),
      error: () => undefined,
      warn: () => undefined,
    };
    const moduleRef = await Test.createTestingModule({ imports: [PushModule.forRoot({ path: '/push/' })] }).compile();
    const nest = moduleRef.createNestApplication({ logger: capture });
    nest.useWebSocketAdapter(new PushWsAdapter(nest));
    await nest.init();
    try {
    const lines = logged.filter((entry) => entry.context === 'PushModule');
      const nodeOfApp = nest.get(PushService).nodeId;
      expect(lines).toEqual([
        {
          message: `push channel started: node=${nodeOfApp} engine=memory gateway=on path=/push port=app`,
          context: 'PushModule',
        },
      ]);
    } finally {
      await nest.close();
    }
  });
});

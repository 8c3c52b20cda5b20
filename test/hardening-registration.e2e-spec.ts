import { Injectable, Module, type DynamicModule, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PushModule, PushService, PushWsAdapter } from 'nest-push-channel';
import { TestClient } from './support/test-client';

/**
 * Issue 7 #13: PushModule registered twice. A second `PushModule.forRoot()` on the same path of the same HTTP server
 * used to start without a word, and every socket then got two init frames (both gateways served the one ws
 * server). Start-up must refuse it; two gateways on different paths, and one module shared by two feature
 * modules, keep working.
 */
describe('PushModule registered more than once (#13)', () => {
  const apps: INestApplication[] = [];
  const clients: TestClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
  });

  /** Creates an app from `root` with the push adapter and starts it on an ephemeral port; resolves to its ws base. */
  async function start(root: Type<unknown> | DynamicModule): Promise<string> {
    const app = await NestFactory.create(root, { logger: false, abortOnError: false });
    apps.push(app);
    app.useWebSocketAdapter(new PushWsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    return `ws://127.0.0.1:${port}`;
  }

  /**
   * Opens a socket, takes its init frame, then pushes a marker through `push`: the frame after init must be the
   * marker, not a second init frame.
   */
  async function framesBeforeMarker(url: string, push: PushService): Promise<unknown[]> {
    const c = await TestClient.connect(url);
    clients.push(c);
    expect(await push.sendToClient(c.clientId, 'marker')).toBeGreaterThanOrEqual(1);
    const extra: unknown[] = [];
    for (let frame = await c.next(); frame !== 'marker'; frame = await c.next()) extra.push(frame);
    return extra;
  }

  /**
   * Starts `root`, expecting start-up to reject. On the old code it starts: then a socket is opened on `path` and
   * the failure names the extra frames it got (the second init frame), which is the real harm.
   */
  async function startRefusal(root: Type<unknown>, path: string): Promise<Error> {
    const error = await start(root).then(
      () => null,
      (e: unknown) => e,
    );
    if (error === null) {
      const app = apps[apps.length - 1];
      const { port } = app.getHttpServer().address() as { port: number };
      const extra = await framesBeforeMarker(`ws://127.0.0.1:${port}${path}`, app.get(PushService));
      throw new Error(
        `the app started with two PushModule.forRoot() on ${path}; a socket got ${extra.length} extra frame(s) ` +
          `after its init: ${JSON.stringify(extra)}`,
      );
    }
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }

  it('two forRoot() on the same path: start-up rejects naming PushModule, "already" and the path', async () => {
    @Module({ imports: [PushModule.forRoot()] })
    class FeatureA {}
    @Module({ imports: [PushModule.forRoot()] })
    class FeatureB {}
    @Module({ imports: [FeatureA, FeatureB] })
    class Root {}

    const error = await startRefusal(Root, '/ws');
    const message = error.message;
    expect(message).toMatch(/PushModule/);
    expect(message).toMatch(/already/i);
    expect(message).toContain('/ws');
  });

  it('the same custom path (also once normalised, "/live/" = "/live") is refused too, naming it', async () => {
    @Module({ imports: [PushModule.forRoot({ path: '/live' })] })
    class A {}
    @Module({ imports: [PushModule.forRoot({ path: '/live/', heartbeat: false })] })
    class B {}
    @Module({ imports: [A, B] })
    class Root {}
    const error = await startRefusal(Root, '/live');
    expect(error.message).toMatch(/PushModule/);
    expect(error.message).toMatch(/already/i);
    expect(error.message).toContain('/live');
  });

  it('two forRoot() on different paths both work, one init frame per socket on each', async () => {
    @Injectable()
    class Holder {
      constructor(readonly push: PushService) {}
    }
    @Module({ imports: [PushModule.forRoot({ path: '/a' })], providers: [Holder], exports: [Holder] })
    class FeatureA {}
    @Module({ imports: [PushModule.forRoot({ path: '/b' })], providers: [Holder], exports: [Holder] })
    class FeatureB {}
    @Module({ imports: [FeatureA, FeatureB] })
    class Root {}

    const base = await start(Root);
    const app = apps[apps.length - 1];
    const pushA = app.select(FeatureA).get(Holder, { strict: true }).push;
    const pushB = app.select(FeatureB).get(Holder, { strict: true }).push;
    expect(pushA).not.toBe(pushB);
    expect(await framesBeforeMarker(`${base}/a`, pushA)).toEqual([]);
    expect(await framesBeforeMarker(`${base}/b`, pushB)).toEqual([]);
  });

  it('one global PushModule used by two feature modules: one gateway, one init frame per socket', async () => {
    @Injectable()
    class UserA {
      constructor(readonly push: PushService) {}
    }
    @Injectable()
    class UserB {
      constructor(readonly push: PushService) {}
    }
    @Module({ providers: [UserA] })
    class FeatureA {}
    @Module({ providers: [UserB] })
    class FeatureB {}
    @Module({ imports: [PushModule.forRoot({ isGlobal: true }), FeatureA, FeatureB] })
    class Root {}

    const base = await start(Root);
    const app = apps[apps.length - 1];
    const a = app.select(FeatureA).get(UserA, { strict: true }).push;
    const b = app.select(FeatureB).get(UserB, { strict: true }).push;
    expect(a).toBe(b);
    expect(await framesBeforeMarker(`${base}/ws`, a)).toEqual([]);
  });

  it('one shared module re-exporting PushModule, imported by two feature modules: one init frame per socket', async () => {
    const push = PushModule.forRoot();
    @Module({ imports: [push], exports: [push] })
    class SharedPush {}
    @Injectable()
    class UserA {
      constructor(readonly push: PushService) {}
    }
    @Injectable()
    class UserB {
      constructor(readonly push: PushService) {}
    }
    @Module({ imports: [SharedPush], providers: [UserA] })
    class FeatureA {}
    @Module({ imports: [SharedPush], providers: [UserB] })
    class FeatureB {}
    @Module({ imports: [FeatureA, FeatureB] })
    class Root {}

    const base = await start(Root);
    const app = apps[apps.length - 1];
    const a = app.select(FeatureA).get(UserA, { strict: true }).push;
    expect(app.select(FeatureB).get(UserB, { strict: true }).push).toBe(a);
    expect(await framesBeforeMarker(`${base}/ws`, a)).toEqual([]);
  });
});

import { describePushContract } from './contract/push-contract';
import { startApp } from './support/test-app';
import { TestClient } from './support/test-client';

describePushContract('memory engine, one process', async () => {
  const t = await startApp({ engine: { type: 'memory' } });
  return {
    push: t.push,
    events: [t.events],
    connect: () => TestClient.connect(t.wsUrl),
    close: () => t.close(),
  };
});

/** The shared routing contract suite (docs/contracts.md §Request contract), run against Envoy configured by the xDS control plane. */
import { describe } from 'node:test';
import { startConsul } from '../../infra/harness/consul.js';
import { ProcessScope } from '../../infra/process.js';
import { routingContract } from '../../infra/harness/routing-contract.js';
import { startControlPlane, startTestEnvoy } from './testing.js';

describe('routing contract: Envoy configured by the xDS control plane', () => {
  routingContract({
    async start() {
      const scope = new ProcessScope();
      const consul = await startConsul();
      scope.adopt(consul.proc);
      try {
        const cp = await startControlPlane(scope, { consulUrl: consul.url, id: 'cp-contract', holdMs: 2000, testHooks: false });
        const envoy = await startTestEnvoy(scope, { xdsPort: cp.xdsPort, id: 'edge-contract' });
        return { baseUrl: envoy.url, consulUrl: consul.url, stop: () => scope.close() };
      } catch (err) {
        await scope.close();
        throw err;
      }
    },
    holdMs: 2000,
  });
});

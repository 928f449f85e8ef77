import { describe } from 'node:test';
import { startConsul } from '../infra/harness/consul.js';
import { ProcessScope } from '../infra/process.js';
import { routingContract } from '../infra/harness/routing-contract.js';
import { ROUTER_OWN_PATHS } from './http/path-guard.js';
import { startRouterProcess } from './testing.js';

describe('routing contract: node router', () => {
  const scope = new ProcessScope();
  routingContract({
    holdMs: 1000,
    ownPaths: [...ROUTER_OWN_PATHS],
    async start() {
      const consul = await startConsul();
      scope.adopt(consul.proc);
      const consulUrl = consul.url;
      const router = await startRouterProcess(scope, { consulUrl, holdMs: 1000, waitReady: false });
      return { baseUrl: router.url, consulUrl, stop: () => scope.close() };
    },
  });
});

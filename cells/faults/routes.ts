/** `/admin/faults`: add, list and clear faults of this process. */
import { Hono } from 'hono';
import { HttpError } from '../../shared/errors.js';
import { readJson } from '../http/body.js';
import { FaultInputSchema, type Fault, type FaultRegistry } from './registry.js';

/**
 * The fault admin routes; `crash` calls `onCrash` right after answering (default: exit code 70).
 * A new fault is answered once `inEffect(fault)` resolves (a `slow-db` once its lock holder holds the lock).
 */
export function faultRoutes(
  registry: FaultRegistry,
  onCrash: () => void = () => process.exit(70),
  inEffect: (fault: Fault) => Promise<void> = async () => {},
): Hono {
  const app = new Hono();
  app.get('/', (c) => c.json({ faults: registry.list(), defect: registry.defect ?? null }));
  app.post('/', async (c) => {
    const input = await readJson(c, FaultInputSchema);
    const fault = registry.add(input);
    if (input.kind === 'crash') setTimeout(onCrash, 20);
    await inEffect(fault);
    return c.json(fault, 201);
  });
  app.delete('/', (c) => c.json({ cleared: registry.clear() }));
  app.delete('/:id', (c) => {
    if (!registry.remove(c.req.param('id'))) throw new HttpError('not_found', `no fault ${c.req.param('id')}`);
    return c.json({ cleared: 1 });
  });
  return app;
}

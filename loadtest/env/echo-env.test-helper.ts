/**
 * A drill environment made of real HTTP echo cells (infra/harness/echo-cell.ts) driven
 * directly (plane `direct`): lets the engine, traffic model, analysis and reports be tested with
 * real vegeta traffic without the whole topology. Faults map onto the echo cell's controls.
 */
import { startEchoCell, type EchoCell } from '../../infra/harness/echo-cell.js';
import type { Target } from '../plan.js';
import type { CellFault, DrillEnv } from './types.js';

/**
 * Starts `n` echo cells (cell-0 …) each owning `marketsPerCell` markets; each names itself in
 * `x-cell-id` as a real cell does (`echo[i].setCellId` makes one answer as another cell).
 */
export async function startEchoEnv(n: number, marketsPerCell: number): Promise<DrillEnv & { echo: EchoCell[] }> {
  const echo: EchoCell[] = [];
  for (let i = 0; i < n; i++) echo.push(await startEchoCell({ cell: `cell-${i}` }));
  for (const e of echo) e.setCellId(e.cell);
  const owners: Record<string, string> = {};
  echo.forEach((e, i) => {
    for (let m = 0; m < marketsPerCell; m++) owners[`m${i}-${m}`] = e.cell;
  });
  const byCell = (cell: string) => {
    const e = echo.find((x) => x.cell === cell);
    if (!e) throw new Error(`no echo cell ${cell}`);
    return e;
  };
  return {
    echo,
    targets: (): Target[] => echo.map((e) => ({ plane: 'direct', replica: e.cell, cell: e.cell, url: `http://127.0.0.1:${e.port}` })),
    cells: () => echo.map((e) => e.cell),
    canaryCell: () => 'cell-0',
    owners: async () => owners,
    cellVersions: async () => Object.fromEntries(echo.map((e) => [e.cell, ['v1']])),
    async injectFault(cell: string, f: CellFault) {
      const e = byCell(cell);
      if (f.kind === 'errors') e.setFailStatus(f.status ?? 500);
      else if (f.kind === 'latency' || f.kind === 'slow-db') e.setDelayMs(f.latencyMs ?? 500);
      else throw new Error(`echo env cannot inject ${f.kind}`);
    },
    async clearFaults(cell: string) {
      const e = byCell(cell);
      e.setFailStatus(0);
      e.setDelayMs(0);
    },
    components: () => [],
    killAndHold: async () => Promise.reject(new Error('echo env has no supervisor')),
    restart: async () => Promise.reject(new Error('echo env has no supervisor')),
    cellctl: async () => Promise.reject(new Error('echo env has no cellctl')),
    async close() {
      await Promise.all(echo.map((e) => e.close()));
    },
  };
}

/**
 * `cellctl up --split-cells`: which cells of a `--log kafka` topology run as an order and a
 * delivery service (choreographed saga) and which as one process (orchestrated saga), checked
 * before anything is written (docs/kafka.md §Picking the saga per cell).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cellIds } from './config.js';

/** The flag's value read: the split cells, or the usage error (one line, `error: ...`) that refuses it. */
export type SplitChoice = { ok: true; splitCells: string[] | undefined } | { ok: false; error: string };

/**
 * Reads `--split-cells <value>` for a topology of `cells` cells on `log`: a comma-separated list
 * of its cell ids, or `none`; undefined (the flag absent) splits every cell under `--log kafka`.
 * Refused: the flag without `--log kafka`, an id that is not one of the topology's cells, an id
 * named twice, and a cell whose kind differs from the one it had in an earlier run on `dataDir`
 * (a split cell's deliveries live in `<data>/delivery/<cell>/`, a one-process cell's in its own
 * database: neither can take over the other's).
 */
export function splitChoice(value: string | undefined, cells: number, log: 'sqlite' | 'kafka', dataDir: string): SplitChoice {
  if (value !== undefined && log !== 'kafka')
    return { ok: false, error: 'error: --split-cells is for --log kafka (only cells on Kafka are split into services)' };
  if (log !== 'kafka') return { ok: true, splitCells: undefined };
  const ids = cellIds(cells);
  let split: string[] | undefined;
  if (value !== undefined) {
    const named = value.trim() === 'none' ? [] : value.split(',').map((s) => s.trim());
    for (const [i, id] of named.entries()) {
      if (!ids.includes(id))
        return {
          ok: false,
          error: `error: --split-cells: '${id.slice(0, 64)}' is not a cell of this topology (${ids[0]}..${ids.at(-1)}, or 'none')`,
        };
      if (named.indexOf(id) !== i) return { ok: false, error: `error: --split-cells: ${id} is named twice` };
    }
    split = named;
  }
  for (const id of ids) {
    const wasSplit = existsSync(join(dataDir, 'delivery', id));
    const ranAlone = !wasSplit && existsSync(join(dataDir, 'cells', id, 'cell.sqlite'));
    const nowSplit = split === undefined || split.includes(id);
    if (wasSplit && !nowSplit)
      return {
        ok: false,
        error: `error: --split-cells: ${id} was split in an earlier run on this data directory (its deliveries are in ${join(dataDir, 'delivery', id)}): name it, or use another --data`,
      };
    if (ranAlone && nowSplit)
      return {
        ok: false,
        error: `error: --split-cells: ${id} ran as one process in an earlier run on this data directory (its deliveries are in its own database): leave it out, or use another --data`,
      };
  }
  return { ok: true, splitCells: split };
}

/** Test helper: a soak run's report holds every verdict a soak must give, and what it played. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DrillReport } from '../report/report.js';
import type { PlayedCrash, PlayedMove } from './timeline.js';

/**
 * Asserts that `r` (a soak over `routers` router replicas) gives each soak verdict (spill,
 * wrong-cell per plane, moves, crashes and recovery, orders lost and duplicated, RSS of every
 * long-lived process), and that its record beside the report played at least two moves, one crash
 * and more than 100 orders. Whether the verdicts pass is the caller's to assert.
 */
export function assertSoakPlayed(r: DrillReport, routers: readonly string[]): void {
  const names = r.verdicts.map((v) => v.name);
  const required = [
    /^spill /,
    /^wrong-cell answers \(router\)$/,
    /^wrong-cell answers \(envoy\)$/,
    /^markets moved /,
    /^cell-1 crashed and back /,
    /^cell-1 serves again after each crash /,
    /^orders lost /,
    /^orders duplicated /,
    /^RSS flat \(control-plane\)$/,
    ...routers.map((replica) => new RegExp(`^RSS flat \\(${replica}\\)$`)),
    /^RSS flat \(cell-0\b/,
    /^RSS flat \(cell-1\b/,
    /^RSS flat \(cell-2\b/,
  ];
  for (const re of required)
    assert.ok(
      names.some((n) => re.test(n)),
      `verdict ${re} missing: ${names.join(' | ')}`,
    );
  const played = JSON.parse(readFileSync(join(dirname(r.files.json), 'soak.json'), 'utf8')) as {
    moves: PlayedMove[];
    crashes: PlayedCrash[];
    orders?: { created: number };
  };
  assert.ok(played.moves.length >= 2, `moves: ${played.moves.length}`);
  assert.ok(played.crashes.length >= 1, `crashes: ${played.crashes.length}`);
  assert.ok((played.orders?.created ?? 0) > 100, `orders created: ${played.orders?.created}`);
}

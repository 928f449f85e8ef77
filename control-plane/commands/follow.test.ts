/**
 * The last line of `cellctl migrate` (and `assign`): the rows a move copied, the delivery
 * service's counted with the order service's when both cells are split
 * (docs/kafka.md §Market migration on Kafka). `--json` prints the record itself, `delivery` included.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MigrationRecordSchema, type MigrationRecord } from '../../shared/kv.js';
import { describeMigration, describeRows } from './follow.js';

const at = '2026-12-07T06:00:00.000Z';
/** A migration of `boise` from cell-0 to cell-1 that flipped and cleaned up. */
const done = (patch: Partial<MigrationRecord> = {}): MigrationRecord =>
  MigrationRecordSchema.parse({
    id: 'mig-1',
    market: 'boise',
    from: 'cell-0',
    to: 'cell-1',
    state: 'done',
    epoch: 4,
    rows: { snapshot: 209, delta: 3 },
    by: 'tester',
    owner: 'cp-1',
    startedAt: at,
    updatedAt: at,
    freezeMs: 272,
    moveMs: 1900,
    summary: { orders: 212, deliveries: 0, checksum: 'abcdef0123456789' },
    history: [{ at, state: 'done' }],
    ...patch,
  });

describe('describeMigration (the last line of cellctl migrate)', () => {
  it("counts an all-in-one cell's rows as before", () => {
    assert.equal(
      describeMigration(done()),
      'moved boise cell-0 → cell-1 (epoch 5) in 1900 ms; freeze window 272 ms; 209 snapshot + 3 delta rows, 212 orders, checksum abcdef012345 equal on both sides; cell-0 purged',
    );
  });

  it("counts both services' rows between split cells, with each service's share and summary", () => {
    const split = done({
      delivery: {
        cursor: 17,
        rows: { snapshot: 627, delta: 9 },
        summary: { orders: 212, deliveries: 212, checksum: '9876543210fedcba' },
      },
    });
    assert.equal(
      describeRows(split),
      '836 snapshot + 12 delta rows (order service 209 + 3, 212 orders, checksum abcdef012345 equal on both sides; ' +
        'delivery service 627 + 9, 212 order facts and 212 deliveries, checksum 9876543210fe equal on both sides)',
    );
    assert.match(
      describeMigration(split),
      /; freeze window 272 ms; 836 snapshot \+ 12 delta rows \(order service 209 \+ 3, .*\); cell-0 purged$/,
    );
    // Before the verification (no summaries yet), the counts alone.
    const { summary: _s, ...unverified } = split;
    assert.equal(
      describeRows({ ...unverified, delivery: { rows: { snapshot: 627, delta: 0 } } }),
      '836 snapshot + 3 delta rows (order service 209 + 3; delivery service 627 + 0)',
    );
  });

  it('shows a migration under way by its last note (cellctl migrate --status), e.g. its wait for an unreachable plane', () => {
    const note =
      'waiting up to 60000 ms for router router-1: no answer in 1000 ms to be reachable before the freeze; cell-0 not frozen, serving boise';
    assert.equal(
      describeMigration(done({ state: 'freezing', history: [{ at, state: 'freezing', note }] })),
      `migrating boise cell-0 → cell-1: ${note}`,
    );
  });

  it('says why a migration that did not move rolled back', () => {
    assert.equal(
      describeMigration(done({ state: 'rolled-back', error: 'delivery summaries differ' })),
      'migration of boise rolled-back: delivery summaries differ; boise stays on cell-0',
    );
  });
});

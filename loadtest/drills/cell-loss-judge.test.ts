import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CreatedOrder, MarketListing } from '../soak/orders.js';
import { countLoss, lossVerdicts, type LossFacts } from './cell-loss-judge.js';

// The cell lost at 10 s, its copy started at 8 s, recovered at 14 s; market nyc was on it, sfo was not.
const facts: LossFacts = { recovered: ['nyc'], recoveryPoint: 8_000, lossAt: 10_000, recoveredAt: 14_000 };
const made = (id: string, market: string, ackedAt: number, key = `k-${id}`, status = 201): CreatedOrder => ({
  id,
  market,
  status,
  key,
  ackedAt,
});
const listing = (market: string, owner: string, ids: string[]): MarketListing => ({ market, owner, answeredBy: owner, ids });
const created = [made('a', 'nyc', 7_000), made('b', 'nyc', 9_000), made('c', 'nyc', 15_000), made('d', 'sfo', 9_500)];

describe('cell-loss order check', () => {
  it('passes when every order acknowledged before the recovery point is listed; one at risk may be lost', () => {
    const c = countLoss(created, [listing('nyc', 'cell-2', ['a', 'c']), listing('sfo', 'cell-3', ['d'])], facts);
    assert.deepEqual([c.safe, c.lostSafe, c.atRisk, c.lostAtRisk, c.kept, c.lostKept, c.duplicated], [1, 0, 1, 1, 2, 0, 0]);
    assert.deepEqual(
      lossVerdicts(c, 'router').map((v) => [v.name, v.pass]),
      [
        ['orders acknowledged before the recovery point survive (router)', true],
        ['orders of other markets, or after the recovery, survive (router)', true],
        ['orders duplicated (router)', true],
      ],
    );
  });

  it('fails when an order acknowledged before the recovery point is missing (a stale copy)', () => {
    const c = countLoss(created, [listing('nyc', 'cell-2', ['c']), listing('sfo', 'cell-3', ['d'])], facts);
    const v = lossVerdicts(c, 'envoy');
    assert.equal(v[0]!.pass, false);
    assert.match(v[0]!.measured, /^1 of 1 lost \(e\.g\. a \(nyc, acknowledged 1970-01-01T00:00:07\.000Z\)\)$/);
  });

  it('fails on an order of another market lost, on a duplicate, and on a listing from the wrong cell', () => {
    const lostElsewhere = countLoss(created, [listing('nyc', 'cell-2', ['a', 'c']), listing('sfo', 'cell-3', [])], facts);
    assert.equal(lossVerdicts(lostElsewhere, 'router')[1]!.pass, false);
    const twice = countLoss(created, [listing('nyc', 'cell-2', ['a', 'a', 'c']), listing('sfo', 'cell-3', ['d'])], facts);
    assert.equal(twice.duplicated, 1);
    assert.equal(lossVerdicts(twice, 'router')[2]!.pass, false);
    const twoForOneKey = countLoss(
      [...created, made('e', 'nyc', 15_500, 'k-c')],
      [listing('nyc', 'cell-2', ['a', 'c', 'e']), listing('sfo', 'cell-3', ['d'])],
      facts,
    );
    assert.equal(twoForOneKey.duplicated, 1, 'one key, two orders');
    const wrongCell = countLoss(
      created,
      [{ ...listing('nyc', 'cell-2', ['a', 'c']), answeredBy: 'cell-1' }, listing('sfo', 'cell-3', ['d'])],
      facts,
    );
    assert.equal(wrongCell.lostSafe, 1, 'a listing from another cell than the owner finds nothing');
    assert.equal(lossVerdicts(wrongCell, 'router')[0]!.pass, false);
  });

  it('fails as no data when no create was acknowledged before the recovery point', () => {
    const c = countLoss([made('c', 'nyc', 15_000)], [listing('nyc', 'cell-2', ['c'])], facts);
    const v = lossVerdicts(c, 'router')[0]!;
    assert.equal(v.pass, false);
    assert.match(v.measured, /^no data/);
  });
});

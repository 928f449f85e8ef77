import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeRss, rssVerdicts, RSS_RULE, type RssSample } from './rss.js';

const T0 = 1_800_000_000_000;
const RUN = { start: T0, end: T0 + 600_000 };

/** Samples of `name` every 2 s from `from` to `to` (ms after T0), RSS given by `kb(t)`. */
function series(name: string, pid: number, from: number, to: number, kb: (t: number) => number, kind = 'router'): RssSample[] {
  const out: RssSample[] = [];
  for (let t = from; t <= to; t += 2000) out.push({ name, kind, pid, t: T0 + t, kb: Math.round(kb(t)) });
  return out;
}

/** A saw-tooth around `base` kB: a garbage collector's rise and drop every 20 s, ±5 %. */
const sawtooth = (base: number) => (t: number) => base * (0.95 + 0.1 * ((t % 20_000) / 20_000));

describe('RSS flatness', () => {
  it('a flat process with a garbage collector saw-tooth passes', () => {
    const [j] = judgeRss(series('router-0', 10, 0, 600_000, sawtooth(150_000)), RUN);
    assert.ok(j);
    assert.equal(j.pass, true, JSON.stringify(j));
    assert.ok(Math.abs(j.growth!) < 0.02, String(j.growth));
  });

  it('a steady climb of 20 % over the last half fails; growth only in the first half (warm-up) passes', () => {
    const leak = series('control-plane', 11, 0, 600_000, (t) => (t < 300_000 ? 100_000 : 100_000 * (1 + (0.2 * (t - 300_000)) / 300_000)));
    const warm = series('cell-2.blue', 12, 0, 600_000, (t) => (t < 300_000 ? 50_000 + (t / 300_000) * 50_000 : 100_000));
    const [cell, cp] = judgeRss([...leak, ...warm], RUN).sort((a, b) => a.name.localeCompare(b.name));
    assert.equal(cell?.name, 'cell-2.blue');
    assert.equal(cell.pass, true);
    assert.equal(cp?.name, 'control-plane');
    assert.equal(cp.pass, false);
    assert.ok(cp.growth! > 0.18 && cp.growth! < 0.22, String(cp.growth));
  });

  it('just under and just over the 10 % line', () => {
    const climb = (g: number) => (t: number) => (t < 300_000 ? 100_000 : 100_000 * (1 + (g * (t - 300_000)) / 300_000));
    const [under] = judgeRss(series('router-1', 1, 0, 600_000, climb(0.09)), RUN);
    const [over] = judgeRss(series('router-1', 1, 0, 600_000, climb(0.11)), RUN);
    assert.equal(under?.pass, true);
    assert.equal(over?.pass, false);
  });

  it('a crashed cell: each pid is a life of its own, the jump to a new process is not growth', () => {
    // Down at 240 s; the new process is smaller, then flat for 6 minutes.
    const before = series('cell-1.blue', 20, 0, 240_000, () => 120_000, 'cell');
    const after = series('cell-1.blue', 21, 245_000, 600_000, () => 80_000, 'cell');
    const [j] = judgeRss([...before, ...after], RUN);
    assert.equal(j?.lives.length, 2);
    assert.equal(j.pass, true, JSON.stringify(j.lives));
    // The first life ended before the run's half: judged over its own last half.
    assert.equal(j.lives[0]!.spanFrom, T0 + 120_000);
    // The restarted life (sampled 245-599 s) is judged over its own last half, later than the run's.
    assert.equal(j.lives[1]!.restarted, true);
    assert.equal(j.lives[1]!.spanFrom, T0 + 422_000);
  });

  it('a restarted life that keeps growing for minutes fails', () => {
    const before = series('cell-1.blue', 20, 0, 120_000, () => 100_000, 'cell');
    const after = series('cell-1.blue', 21, 125_000, 600_000, (t) => 60_000 * (1 + (t - 125_000) / 475_000), 'cell');
    const [j] = judgeRss([...before, ...after], RUN);
    assert.equal(j?.pass, false);
    assert.equal(j.lives[1]!.restarted, true);
    assert.ok(j.lives[1]!.growth! > 0.3, String(j.lives[1]!.growth));
  });

  it('a restarted life shorter than a minute is not judged (warm-up); the life before it is', () => {
    const before = series('cell-1.blue', 20, 0, 560_000, () => 100_000, 'cell');
    const after = series('cell-1.blue', 21, 565_000, 600_000, (t) => 40_000 + t / 10, 'cell');
    const [j] = judgeRss([...before, ...after], RUN);
    assert.equal(j?.pass, true);
    assert.match(j.lives[1]!.skipped ?? '', /restarted, lived 34 s < 60 s/);
    assert.ok(j.lives[0]!.growth !== null);
  });

  it('no judgeable life, or a process never sampled, fails as no data', () => {
    const few = series('router-0', 1, 590_000, 600_000, () => 1000).slice(0, 3);
    const judged = judgeRss(few, RUN);
    assert.equal(judged[0]?.pass, false);
    assert.equal(judged[0]?.growth, null);
    const verdicts = rssVerdicts(judged, ['router-0', 'router-1']);
    assert.deepEqual(
      verdicts.map((v) => [v.name, v.pass]),
      [
        ['RSS flat (router-0)', false],
        ['RSS flat (router-1)', false],
      ],
    );
    assert.match(verdicts[0]!.measured, /^no data/);
    assert.equal(verdicts[1]!.measured, 'no data (never sampled)');
  });

  it('verdicts say what was measured for every life', () => {
    const flat = series('router-0', 7, 0, 600_000, () => 150_000);
    const [v] = rssVerdicts(judgeRss(flat, RUN), ['router-0']);
    assert.equal(v?.pass, true);
    assert.match(v.measured, /^pid 7: \+0\.0% over 300 s \(146\.5 MB → 146\.5 MB, 151 samples\)$/);
    assert.equal(RSS_RULE.maxGrowth, 0.1);
  });
});

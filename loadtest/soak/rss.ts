/**
 * RSS of the soak's processes: samples read from /proc/<pid>/status of the listening pids the
 * supervisor lists, and the flatness judgement. A process that was restarted during the run (a
 * crash) starts a new life with its own series; each life is judged on its own (see
 * {@link judgeRss}), never joined to the one before.
 */
import type { Verdict } from '../verdicts.js';

/** One reading of one process. */
export interface RssSample {
  /** The child's name as the supervisor lists it (`router-0`, `control-plane`, `cell-1.blue`). */
  name: string;
  kind: string;
  pid: number;
  /** Epoch ms. */
  t: number;
  /** Resident set size, kB (VmRSS). */
  kb: number;
}

/** How flatness is judged. */
export interface RssRule {
  /** Highest growth allowed over the judged span (0.1 = 10 %). */
  maxGrowth: number;
  /** A span with fewer samples is not judged. */
  minSamples: number;
  /**
   * A life that began during the run (a restart) is judged only when it lasted this long: a
   * fresh Node process grows to its working set in its first minute under load, which is not a
   * leak. Lives that were running when the run started have no such floor.
   */
  minRestartedLifeMs: number;
}

/** The rule of issue 14: growth under 10 %, restarted lives judged once they lived a minute. */
export const RSS_RULE: RssRule = { maxGrowth: 0.1, minSamples: 5, minRestartedLifeMs: 60_000 };

/** One life (one pid) of a process, as judged. */
export interface LifeJudgement {
  pid: number;
  /** First and last sample of this life (epoch ms). */
  from: number;
  to: number;
  /** True when this life began during the run (after a crash or another restart). */
  restarted: boolean;
  /** The judged span (epoch ms) and its samples. */
  spanFrom: number;
  samples: number;
  /** RSS at the start and end of the judged span by a least-squares line, kB. */
  startKb: number;
  endKb: number;
  /** Relative growth over the span (endKb / startKb − 1); null when the life was not judged. */
  growth: number | null;
  /** Why a life was not judged. */
  skipped?: string;
}

/** One process (every life of one supervisor child). */
export interface ProcessJudgement {
  name: string;
  kind: string;
  lives: LifeJudgement[];
  /** The largest growth of a judged life; null when no life could be judged (no data). */
  growth: number | null;
  pass: boolean;
}

/** Least-squares line through (t, kb); its values at `from` and `to`. */
function fitEnds(points: RssSample[], from: number, to: number): { startKb: number; endKb: number } {
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const mk = points.reduce((s, p) => s + p.kb, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.kb - mk);
    den += (p.t - mt) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { startKb: mk + slope * (from - mt), endKb: mk + slope * (to - mt) };
}

/**
 * Judges every process's RSS over the run `[run.start, run.end]`:
 * - each pid of a process is a life of its own;
 * - a life is judged over the last half of the run, or over the last half of its own life when
 *   that is later (a life that ended or began inside the run);
 * - growth is the rise of a least-squares line through the span's samples, relative to its start
 *   (a garbage collector's saw-tooth does not move it, a steady climb does);
 * - a life that began during the run is judged only once it lived `minRestartedLifeMs`;
 * - a process passes when every judged life grew less than `maxGrowth`, and fails with no data
 *   when none of its lives could be judged.
 */
export function judgeRss(samples: readonly RssSample[], run: { start: number; end: number }, rule: RssRule = RSS_RULE): ProcessJudgement[] {
  const byName = new Map<string, RssSample[]>();
  for (const s of samples) {
    if (s.t < run.start || s.t > run.end) continue;
    const list = byName.get(s.name) ?? [];
    list.push(s);
    byName.set(s.name, list);
  }
  const runMid = run.start + (run.end - run.start) / 2;
  const out: ProcessJudgement[] = [];
  for (const [name, list] of [...byName.entries()].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) {
    list.sort((a, b) => a.t - b.t);
    const pids: number[] = [];
    for (const s of list) if (!pids.includes(s.pid)) pids.push(s.pid);
    const lives = pids.map((pid, i): LifeJudgement => {
      const life = list.filter((s) => s.pid === pid);
      const from = life[0]!.t;
      const to = life.at(-1)!.t;
      const restarted = i > 0;
      const spanFrom = Math.max(from + (to - from) / 2, to > runMid ? runMid : from);
      const span = life.filter((s) => s.t >= spanFrom);
      const base = { pid, from, to, restarted, spanFrom, samples: span.length, startKb: 0, endKb: 0, growth: null };
      if (restarted && to - from < rule.minRestartedLifeMs) {
        return { ...base, skipped: `restarted, lived ${Math.round((to - from) / 1000)} s < ${rule.minRestartedLifeMs / 1000} s` };
      }
      if (span.length < rule.minSamples) return { ...base, skipped: `${span.length} samples < ${rule.minSamples}` };
      const { startKb, endKb } = fitEnds(span, spanFrom, to);
      return { ...base, startKb: Math.round(startKb), endKb: Math.round(endKb), growth: startKb > 0 ? endKb / startKb - 1 : null };
    });
    const judged = lives.filter((l) => l.growth !== null);
    const growth = judged.length ? Math.max(...judged.map((l) => l.growth!)) : null;
    out.push({ name, kind: list[0]!.kind, lives, growth, pass: growth !== null && growth < rule.maxGrowth });
  }
  return out;
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/**
 * One verdict per expected process (`expected`: the names the supervisor listed at the start),
 * plus any other process that was sampled. A process never sampled fails as no data.
 */
export function rssVerdicts(judged: readonly ProcessJudgement[], expected: readonly string[], rule: RssRule = RSS_RULE): Verdict[] {
  const names = [...new Set([...expected, ...judged.map((j) => j.name)])];
  const threshold = `< ${Math.round(rule.maxGrowth * 100)}% growth over the last half (of the run, or of a life)`;
  return names.map((name): Verdict => {
    const j = judged.find((x) => x.name === name);
    if (!j) return { name: `RSS flat (${name})`, pass: false, measured: 'no data (never sampled)', threshold };
    const parts = j.lives.map((l) =>
      l.growth === null
        ? `pid ${l.pid}: not judged (${l.skipped ?? 'no RSS'})`
        : `pid ${l.pid}${l.restarted ? ' (restarted)' : ''}: ${pct(l.growth)} over ${Math.round((l.to - l.spanFrom) / 1000)} s (${mb(l.startKb)} → ${mb(l.endKb)}, ${l.samples} samples)`,
    );
    return {
      name: `RSS flat (${name})`,
      pass: j.pass,
      measured: j.growth === null ? `no data: ${parts.join('; ')}` : parts.join('; '),
      threshold,
    };
  });
}

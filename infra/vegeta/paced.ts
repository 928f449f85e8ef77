/**
 * An attack fed live at vegeta's own pace: vegeta's constant pacer (`-rate`) decides when each
 * request goes out, and `next()` decides what it is, asked just before vegeta needs it. The
 * feeder keeps the `-lazy` target pipe `leadMs` ahead of the pacer and no further: vegeta stamps
 * a request's start before reading its target, so a pipe that runs dry would count the wait as
 * latency, and one filled far ahead would make every decision stale (a retry, a read-back).
 */
import { startAttack, type Attack, type AttackOptions } from './attack.js';
import type { VegetaTarget } from './targets.js';

/** Options of {@link startPacedAttack}. */
export interface PacedAttackOptions extends Omit<AttackOptions, 'targetsFile'> {
  /** The next request; called once per request, in send order. */
  next: () => VegetaTarget;
  /** How far ahead of the pacer targets are written, ms (default 250). */
  leadMs?: number;
}

/** A paced attack in progress. */
export interface PacedAttack {
  pid: number;
  startedAt: number;
  /** Stops feeding: vegeta sends what is in the pipe, waits for the answers and exits. Idempotent. */
  end(): void;
  /** Stops vegeta now (SIGINT). */
  stop(): void;
  done: Attack['done'];
  /** Targets written so far. */
  readonly written: number;
}

const TICK_MS = 20;

/** Starts vegeta at `o.rate` requests per second on targets from `o.next()`. */
export function startPacedAttack(o: PacedAttackOptions): PacedAttack {
  if (!(o.rate > 0)) throw new Error('a paced attack needs a rate above 0');
  const attack = startAttack(o);
  const leadMs = o.leadMs ?? 250;
  let written = 0;
  let ended = false;
  const feed = () => {
    if (ended) return;
    const due = Math.ceil((o.rate * (Date.now() - attack.startedAt + leadMs)) / 1000);
    while (written < due) {
      attack.send(o.next());
      written++;
    }
  };
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(ticker);
    attack.end();
  };
  feed();
  const ticker = setInterval(feed, TICK_MS);
  void attack.done.finally(end).catch(() => undefined);
  return {
    pid: attack.pid,
    startedAt: attack.startedAt,
    end,
    stop: () => {
      end();
      attack.stop();
    },
    done: attack.done,
    get written() {
      return written;
    },
  };
}

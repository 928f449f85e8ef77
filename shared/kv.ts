/**
 * The Consul KV schema (docs/contracts.md §Consul keys): key layout under a configurable prefix, and a zod codec
 * per value. Every value read from Consul is `unknown` until one of these decoders passed it.
 */
import { z } from 'zod';
import { InvalidKeyError } from './errors.js';
import { MARKET_ID_PATTERN, MARKET_ID_RE } from './market.js';

/** The default KV prefix; override with `--prefix` / CELLSIM_PREFIX. */
export const DEFAULT_PREFIX = 'cellsim/';

/** The alphabet of every ID that names a Consul key (market, cell, rollout): no `/`, no dot, no `%`. */
const KEY_ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A market ID (the rules of shared/market.ts) as a zod schema: admin API paths and bodies. */
export const MarketIdSchema = z.string().regex(MARKET_ID_RE, `market id must match ${MARKET_ID_PATTERN}`);

/** A cell ID: same alphabet as market IDs. */
export const CellIdSchema = z.string().regex(KEY_ID_RE, 'cell id must match ^[a-z0-9][a-z0-9-]{0,62}$');

/** A rollout ID (`ro-<time>-<version>`): same alphabet. */
export const RolloutIdSchema = z.string().regex(KEY_ID_RE, 'rollout id must match ^[a-z0-9][a-z0-9-]{0,62}$');

/** `id` when it may name a key segment; else throws {@link InvalidKeyError} (no key is built from it). */
function segment(kind: string, id: string): string {
  if (typeof id !== 'string' || !KEY_ID_RE.test(id)) throw new InvalidKeyError(kind, String(id));
  return id;
}

/** `cellsim/cells/<cell>` */
export const CellRecordSchema = z
  .object({
    id: CellIdSchema,
    state: z.enum(['active', 'draining', 'down']),
    canary: z.boolean(),
    global: z.boolean(),
    capacity: z.number().int().nonnegative(),
    version: z.string().min(1).max(64),
    /**
     * The version a split cell's delivery service runs, written when a delivery rollout's wave
     * passes and written back by its rollback (docs/kafka.md §Rolling out the delivery service);
     * `cellctl up` starts the delivery instances on it. Absent: they run `version`.
     */
    deliveryVersion: z.string().min(1).max(64).optional(),
    /** The blue/green color that receives traffic; absent means every color does. */
    activeColor: z.enum(['blue', 'green']).optional(),
    /**
     * A weighted traffic shift (docs/contracts.md §Consul keys): `percent` of the cell's requests go
     * to `color`'s instances, the rest to the active color's. Absent: the active color takes all.
     */
    shift: z
      .object({ color: z.enum(['blue', 'green']), percent: z.number().min(0).max(100) })
      .strict()
      .optional(),
  })
  .strict();
export type CellRecord = z.infer<typeof CellRecordSchema>;

/**
 * The key header of a split by request key (an experiment's or a share move's): a lowercase header
 * name, not the market header, nor an internal (`x-cellsim-*`) or Envoy (`x-envoy-*`) one.
 */
function keyHeaderSchema(what: string) {
  return z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, `${what} header must be a lowercase header name`)
    .refine((h) => h !== 'x-market-id' && !h.startsWith('x-cellsim-') && !h.startsWith('x-envoy-'), {
      message: `${what} header must not be x-market-id, x-cellsim-* or x-envoy-*`,
    });
}

/** A market record's `experiment` (see {@link MarketRecordSchema}). */
export const ExperimentSpecSchema = z
  .object({
    header: keyHeaderSchema('experiment'),
    color: z.enum(['blue', 'green']),
    percent: z.number().min(0).max(100),
  })
  .strict();

/** A market record's `shareMove` (see {@link MarketRecordSchema}); `to` ≠ `cell` is checked on the record. */
export const ShareMoveSpecSchema = z
  .object({
    to: CellIdSchema,
    header: keyHeaderSchema('shareMove'),
    percent: z
      .number()
      .min(0)
      .max(100)
      .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, { message: 'shareMove percent must be in hundredths' }),
  })
  .strict();

/** `cellsim/markets/<market>` */
export const MarketRecordSchema = z
  .object({
    cell: CellIdSchema,
    state: z.enum(['active', 'frozen']),
    epoch: z.number().int().nonnegative(),
    /**
     * An A/B experiment (docs/contracts.md §Consul keys, docs/experiments.md): requests whose
     * `header` value hashes into the first `percent` % of buckets go to the owning cell's `color`
     * instances, other keyed ones to its active color; a request without the header is not in it.
     */
    experiment: ExperimentSpecSchema.optional(),
    /**
     * A market move by share (docs/contracts.md §Consul keys, docs/weighted-shifts.md): requests
     * whose `header` value hashes into the first `percent` % of buckets go to cell `to`, every
     * other request to `cell`. Percent in hundredths; `to` another cell than `cell`.
     */
    shareMove: ShareMoveSpecSchema.optional(),
  })
  .strict()
  .superRefine((rec, ctx) => {
    if (rec.shareMove === undefined) return;
    if (rec.shareMove.to === rec.cell)
      ctx.addIssue({ code: 'custom', path: ['shareMove', 'to'], message: 'shareMove.to must be another cell than cell' });
    if (rec.experiment !== undefined)
      ctx.addIssue({ code: 'custom', path: ['shareMove'], message: 'a market takes an experiment or a shareMove, not both' });
  });
export type MarketRecord = z.infer<typeof MarketRecordSchema>;

/**
 * Key builders and parsers for one prefix. Every builder takes one ID segment and refuses
 * (throws {@link InvalidKeyError}) any that is not a valid ID, so no parameter can name
 * another key (`../cells/cell-0`, `a/b`, `%2F`).
 */
export class KvLayout {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_PREFIX) {
    this.prefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
  }

  get cellsPrefix(): string {
    return `${this.prefix}cells/`;
  }
  get marketsPrefix(): string {
    return `${this.prefix}markets/`;
  }
  get migrationsPrefix(): string {
    return `${this.prefix}migrations/`;
  }
  get rolloutsPrefix(): string {
    return `${this.prefix}rollouts/`;
  }
  get auditPrefix(): string {
    return `${this.prefix}audit/`;
  }
  /** Evacuation records (control-plane/admin/evacuation.ts), kept beside the audit trail. */
  get evacuationsPrefix(): string {
    return `${this.auditPrefix}evacuations/`;
  }
  cellKey(cell: string): string {
    return `${this.cellsPrefix}${segment('cell', cell)}`;
  }
  marketKey(market: string): string {
    return `${this.marketsPrefix}${segment('market', market)}`;
  }
  migrationKey(market: string): string {
    return `${this.migrationsPrefix}${segment('market', market)}`;
  }
  rolloutKey(id: string): string {
    return `${this.rolloutsPrefix}${segment('rollout', id)}`;
  }
  evacuationKey(cell: string): string {
    return `${this.evacuationsPrefix}${segment('cell', cell)}`;
  }
  /** The markets' change log (shared/markets/change-log.ts), outside `markets/` so no listing of it holds it. */
  get marketChangesKey(): string {
    return `${this.prefix}changes/markets`;
  }

  /** The market ID in a `markets/` key, or undefined when the key is not a valid market key. */
  marketFromKey(key: string): string | undefined {
    if (!key.startsWith(this.marketsPrefix)) return undefined;
    const id = key.slice(this.marketsPrefix.length);
    return MARKET_ID_RE.test(id) ? id : undefined;
  }

  /** The cell ID in a `cells/` key, or undefined when the key is not a valid cell key. */
  cellFromKey(key: string): string | undefined {
    if (!key.startsWith(this.cellsPrefix)) return undefined;
    const id = key.slice(this.cellsPrefix.length);
    return CellIdSchema.safeParse(id).success ? id : undefined;
  }
}

/** The outcome of decoding one KV value. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Formats zod issues as `path: message` lines, every problem listed. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(value)'}: ${i.message}`);
}

/** Parses a JSON text (a Consul value) against a schema, collecting every problem. */
export function decodeJson<T>(schema: z.ZodType<T>, text: string | null | undefined): Decoded<T> {
  if (text === null || text === undefined || text === '') return { ok: false, problems: ['(value): empty'] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [`(value): not JSON (${(err as Error).message})`] };
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problems: formatIssues(parsed.error) };
}

/** Encodes a value for Consul after checking it against its schema (never writes a bad value). */
export function encodeJson<T>(schema: z.ZodType<T>, value: T): string {
  return JSON.stringify(schema.parse(value));
}

/** The steps of a market migration (issue 6), in order; the last three are terminal. */
export const MIGRATION_STATES = [
  'validating',
  'copying',
  'draining',
  'stepping',
  'freezing',
  'delta',
  'verifying',
  'flipping',
  'flipped',
  'cleanup-wait',
  'rolling-back',
  'done',
  'rolled-back',
  'failed',
] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

/** One step of a migration's history. */
export const MigrationEventSchema = z.object({ at: z.string(), state: z.enum(MIGRATION_STATES), note: z.string().optional() }).strict();

/** `cellsim/migrations/<market>`: a migration's persisted state machine. */
export const MigrationRecordSchema = z
  .object({
    id: z.string().min(1),
    market: z.string().regex(MARKET_ID_RE),
    from: CellIdSchema,
    to: CellIdSchema,
    state: z.enum(MIGRATION_STATES),
    /** The market's epoch when the migration started; the flip writes epoch + 1. */
    epoch: z.number().int().nonnegative(),
    /** The source's change cursor after the last copy. */
    cursor: z.union([z.string(), z.number()]).optional(),
    rows: z.object({ snapshot: z.number().int().nonnegative(), delta: z.number().int().nonnegative() }).strict(),
    by: z.string(),
    owner: z.string(),
    startedAt: z.string(),
    updatedAt: z.string(),
    frozenAt: z.string().optional(),
    /** Freeze window (KV frozen → flip written), in ms. */
    freezeMs: z.number().nonnegative().optional(),
    /** Total time from start to the flip, in ms. */
    moveMs: z.number().nonnegative().optional(),
    /** Where the freeze window went, in ms (edge barrier, cell freeze, delta copies, checks, flip). */
    phases: z.record(z.number()).optional(),
    cleanupAt: z.string().optional(),
    abortRequested: z.boolean().optional(),
    summary: z.object({ orders: z.number(), deliveries: z.number(), checksum: z.string() }).strict().optional(),
    /**
     * Both cells split into order and delivery services (docs/kafka.md §Market migration on Kafka):
     * the delivery service's rows move too, with their own cursor, row counts and verified summary.
     */
    delivery: z
      .object({
        cursor: z.union([z.string(), z.number()]).optional(),
        rows: z.object({ snapshot: z.number().int().nonnegative(), delta: z.number().int().nonnegative() }).strict(),
        summary: z.object({ orders: z.number(), deliveries: z.number(), checksum: z.string() }).strict().optional(),
      })
      .strict()
      .optional(),
    /**
     * A move by share (`cellctl migrate --steps`, docs/weighted-shifts.md §Market moves by share):
     * in `stepping` the buckets below each step's percent move to the target one range at a time,
     * keyed by `header`; `percent` is the share the market record's `shareMove` gives the target so
     * far. `returning` is the share a rollback moves back to the source (kept across a restart).
     */
    share: z
      .object({
        header: ShareMoveSpecSchema.shape.header,
        steps: z
          .array(ShareMoveSpecSchema.shape.percent.refine((p) => p > 0 && p < 100))
          .min(1)
          .max(10),
        percent: ShareMoveSpecSchema.shape.percent,
        /** How long each step holds before the next (ms). */
        bakeMs: z.number().int().nonnegative().optional(),
        /** When the last step took effect (its bake runs from here). */
        stepAt: z.string().optional(),
        returning: ShareMoveSpecSchema.shape.percent.optional(),
        /**
         * Each step's SLO verdict (the target's requests of the market against the source's, over
         * the step's bake), oldest first; a breach rolls the move back.
         */
        verdicts: z
          .array(z.object({ percent: ShareMoveSpecSchema.shape.percent, verdict: z.lazy(() => WaveVerdictSchema) }).strict())
          .optional(),
      })
      .strict()
      .optional(),
    error: z.string().optional(),
    history: z.array(MigrationEventSchema),
  })
  .strict();
export type MigrationRecord = z.infer<typeof MigrationRecordSchema>;

/** SLO verdict of one rollout wave. */
export const WaveVerdictSchema = z
  .object({
    pass: z.boolean(),
    reason: z.string(),
    requests: z.number().nonnegative(),
    errorRate: z.number().nonnegative(),
    p99Ms: z.number().nonnegative().nullable(),
    baseline: z.object({ requests: z.number(), errorRate: z.number(), p99Ms: z.number().nullable() }).strict(),
    at: z.string(),
  })
  .strict();
export type WaveVerdict = z.infer<typeof WaveVerdictSchema>;

/**
 * The verdict of one cell of a delivery rollout (docs/kafka.md §Rolling out the delivery service):
 * its delivery instances replaced one at a time and baked, judged by their health checks and the
 * consumer group's lag on the orders topic.
 */
export const DeliveryVerdictSchema = z
  .object({
    cell: CellIdSchema,
    pass: z.boolean(),
    reason: z.string(),
    /** Delivery instances of the cell running the new version (passing in Consul) at the verdict. */
    instances: z.number().int().nonnegative(),
    /** Order events the new instances handled (their `cellsim_consumer_events_total`). */
    events: z.number().nonnegative(),
    /** Group `delivery`'s lag on the cell's orders topic: before the first step, at the verdict, the highest seen. */
    lag: z.object({ start: z.number().nonnegative(), end: z.number().nonnegative(), max: z.number().nonnegative() }).strict(),
    at: z.string(),
  })
  .strict();
export type DeliveryVerdict = z.infer<typeof DeliveryVerdictSchema>;

/** `cellsim/rollouts/<id>`: a rollout's waves, state and verdicts. */
export const RolloutRecordSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    version: z.string().min(1).max(64),
    defect: z.record(z.unknown()).optional(),
    state: z.enum(['running', 'succeeded', 'rolling-back', 'rolled-back', 'aborted', 'failed']),
    /** What it replaces: absent, the cells' instances (a split cell's order service); `delivery`, a split cell's delivery instances. */
    role: z.literal('delivery').optional(),
    /** A delivery rollout's bound on the consumer group's lag (records). */
    maxLag: z.number().int().positive().optional(),
    /** A delivery rollout: each cell's delivery instance count at the start (a rollback restores as many). */
    deliveryInstances: z.record(z.number().int().positive()).optional(),
    /** Each cell's version and color before the rollout (a delivery rollout: its delivery instances' version). */
    previous: z.record(z.object({ version: z.string(), color: z.enum(['blue', 'green']) }).strict()),
    waves: z.array(
      z
        .object({
          cells: z.array(CellIdSchema),
          state: z.enum(['pending', 'staging', 'baking', 'passed', 'breached', 'rolled-back', 'skipped']),
          verdict: WaveVerdictSchema.optional(),
          /** The traffic steps the wave went through before its full switch, each with its SLO verdict. */
          steps: z.array(z.object({ percent: z.number().min(0).max(100), verdict: WaveVerdictSchema.optional() }).strict()).optional(),
          /** A delivery rollout's verdict of each cell of the wave. */
          delivery: z.array(DeliveryVerdictSchema).optional(),
        })
        .strict(),
    ),
    bakeMs: z.number().int().nonnegative(),
    /** The first ms of each bake not judged (`--warmup`). */
    warmupMs: z.number().int().positive().optional(),
    /** Shares of a wave's traffic (percent, rising, each below 100) sent to the new color, each baked, before the full switch. */
    steps: z.array(z.number().gt(0).lt(100)).optional(),
    /** True when the operator accepted waves whose bake saw too little traffic to judge (`--allow-idle`). */
    allowIdle: z.boolean().optional(),
    by: z.string(),
    startedAt: z.string(),
    updatedAt: z.string(),
    breachAt: z.string().optional(),
    rolledBackAt: z.string().optional(),
    /** Breach → every touched cell back on its old color, in ms. */
    rollbackMs: z.number().nonnegative().optional(),
    report: z.string().optional(),
  })
  .strict();
export type RolloutRecord = z.infer<typeof RolloutRecordSchema>;

/** `cellsim/audit/<time>-<id>`: one operator action. */
export const AuditRecordSchema = z
  .object({
    at: z.string(),
    /** The name of the token the action was made with (`operator`, `read`, a tokens-file name). */
    who: z.string(),
    /** What the caller said of itself (`x-cellsim-operator`, e.g. `alice@host`): unverified. */
    claimed: z.string().optional(),
    action: z.string(),
    target: z.string(),
    params: z.unknown().optional(),
    before: z.unknown().optional(),
    after: z.unknown().optional(),
    result: z.enum(['ok', 'dry-run', 'refused', 'failed', 'started']),
    error: z.string().optional(),
  })
  .strict();
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/** The audit key of a record written at `at` (sortable by time). */
export function auditKey(layout: KvLayout, at: Date, id: string): string {
  return `${layout.auditPrefix}${at.toISOString().replace(/[:.]/g, '-')}-${id}`;
}

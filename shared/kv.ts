/**
 * The Consul KV schema of DESIGN §4: key layout under a configurable prefix, and a zod codec
 * per value. Every value read from Consul is `unknown` until one of these decoders passed it.
 */
import { z } from 'zod';
import { MARKET_ID_RE } from './market.js';

/** The default KV prefix; override with `--prefix` / CELLSIM_PREFIX. */
export const DEFAULT_PREFIX = 'cellsim/';

/** A cell ID: same alphabet as market IDs. */
export const CellIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'cell id must match ^[a-z0-9][a-z0-9-]{0,62}$');

/** `cellsim/cells/<cell>` */
export const CellRecordSchema = z
  .object({
    id: CellIdSchema,
    state: z.enum(['active', 'draining', 'down']),
    canary: z.boolean(),
    global: z.boolean(),
    capacity: z.number().int().nonnegative(),
    version: z.string().min(1).max(64),
    /** The blue/green color that receives traffic; absent means every color does. */
    activeColor: z.enum(['blue', 'green']).optional(),
  })
  .strict();
export type CellRecord = z.infer<typeof CellRecordSchema>;

/** `cellsim/markets/<market>` */
export const MarketRecordSchema = z
  .object({
    cell: CellIdSchema,
    state: z.enum(['active', 'frozen']),
    epoch: z.number().int().nonnegative(),
  })
  .strict();
export type MarketRecord = z.infer<typeof MarketRecordSchema>;

/** Key builders and parsers for one prefix. */
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
  cellKey(cell: string): string {
    return `${this.cellsPrefix}${cell}`;
  }
  marketKey(market: string): string {
    return `${this.marketsPrefix}${market}`;
  }
  migrationKey(market: string): string {
    return `${this.migrationsPrefix}${market}`;
  }
  rolloutKey(id: string): string {
    return `${this.rolloutsPrefix}${id}`;
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

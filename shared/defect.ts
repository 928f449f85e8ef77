/**
 * A deliberate defect a "bad version" of a cell carries for its whole life: the cell's
 * `--defect <json>` and a version's `defect` in the versions file are this one shape.
 */
import { z } from 'zod';

/** A defect: an error rate and/or added latency, on one route or on every /v1 route. */
export const DefectSchema = z
  .object({
    route: z.string().min(1).max(200).optional(),
    errorRate: z.number().min(0).max(1).optional(),
    status: z.number().int().min(500).max(599).optional(),
    latencyMs: z.number().int().min(0).max(600_000).optional(),
  })
  .strict()
  .refine((d) => d.errorRate !== undefined || d.latencyMs !== undefined, { message: 'a defect needs errorRate or latencyMs' });

/** A parsed defect. */
export type Defect = z.infer<typeof DefectSchema>;

/**
 * Reads `<data>/topology.json`, written by `cellctl up` once every component is ready
 * (docs/contracts.md §Data directory), into what a drill needs: each component's URL and pid.
 * Validated with zod; unknown fields are ignored so the file can grow.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../../shared/kv.js';
import { readTokenFile, tokenPath, type TokenKind } from '../../shared/tokens.js';

const Pid = z.number().int().nullable().optional();
const Component = z.object({ id: z.string().min(1), url: z.string().url(), pid: Pid }).passthrough();

/** The parts of topology.json a drill reads. */
export const TopologySchema = z
  .object({
    consul: z.object({ url: z.string().url(), pid: Pid, persist: z.boolean().optional() }).passthrough(),
    controlPlane: z.object({ url: z.string().url(), pid: Pid }).passthrough(),
    routers: z.array(Component),
    envoys: z.array(Component),
    cells: z.array(Component.extend({ canary: z.boolean().optional() })),
    supervisor: z.object({ url: z.string().url(), pid: z.number().int().positive().optional() }).passthrough().optional(),
    prefix: z.string().optional(),
    /** The seeded markets with their traffic weights. */
    markets: z.array(z.object({ id: z.string(), weight: z.number().positive() }).passthrough()).optional(),
  })
  .passthrough();
/** A parsed topology.json. */
export type Topology = z.infer<typeof TopologySchema>;

/** The topology file of a data directory. */
export function topologyPath(dataDir: string): string {
  return join(dataDir, 'topology.json');
}

/** Reads and validates topology.json; undefined when there is none; throws listing every problem. */
export function readTopology(dataDir: string): Topology | undefined {
  const path = topologyPath(dataDir);
  if (!existsSync(path)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not JSON (${(err as Error).message})`);
  }
  const parsed = TopologySchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${path}: ${formatIssues(parsed.error).join('; ')}`);
  return parsed.data;
}

/** Reads a token `cellctl up` stored in the data directory (`<data>/tokens/<kind>`, shared/tokens.ts). */
export function readTopologyToken(dataDir: string, kind: TokenKind): string {
  return readTokenFile(tokenPath(dataDir, kind));
}

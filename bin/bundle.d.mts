/** The commands that run from a bundle (see bundle.mjs). */
export const BUNDLED_COMMANDS: readonly string[];
/** The bundle file of `command`, built when missing or stale; undefined when it cannot be built (see bundle.mjs). */
export function commandBundle(command: string): Promise<string | undefined>;

/** The router bundle's entry file, built when missing or stale; undefined when it cannot be built (see router-bundle.mjs). */
export function routerBundle(): Promise<string | undefined>;

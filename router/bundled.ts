/** Whether the router runs from its esbuild bundle (bin/router-bundle.mjs) or through tsx. */

/** Defined as `true` by esbuild when it builds the router bundle. */
declare const __CELLSIM_BUNDLED__: boolean | undefined;

/** True when this code runs from the router bundle (bin/router-bundle.mjs), not through tsx. */
export function runsBundled(): boolean {
  return typeof __CELLSIM_BUNDLED__ !== 'undefined' && __CELLSIM_BUNDLED__;
}

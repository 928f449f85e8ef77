/** Whether this process runs from an esbuild bundle (bin/bundle.mjs) or through tsx. */

/** Defined as `true` by esbuild when it builds the bundles. */
declare const __CELLSIM_BUNDLED__: boolean | undefined;

/** True when this code runs from a bundle (bin/bundle.mjs), not through tsx. */
export function runsBundled(): boolean {
  return typeof __CELLSIM_BUNDLED__ !== 'undefined' && __CELLSIM_BUNDLED__;
}

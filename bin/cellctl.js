#!/usr/bin/env node
// cellctl entry point: loads the TypeScript sources through tsx, then dispatches. The long-running
// children of `cellctl up` (router, control-plane, cell, envoy) run from esbuild bundles instead
// (bin/bundle.mjs says why); CELLSIM_BUNDLE=0 runs them through tsx like every other command.
import { pathToFileURL } from 'node:url';

const { BUNDLED_COMMANDS, commandBundle } = process.env.CELLSIM_BUNDLE === '0' ? { BUNDLED_COMMANDS: [] } : await import('./bundle.mjs');
const bundle = BUNDLED_COMMANDS.includes(process.argv[2]) ? await commandBundle(process.argv[2]) : undefined;
// `cellctl up` builds a stale bundle once, before its children start together and would each build it.
if (process.argv[2] === 'up' && commandBundle) await commandBundle('router');
if (bundle !== undefined) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cellctl.ts');
}

#!/usr/bin/env node
// cellctl entry point: loads the TypeScript sources through tsx, then dispatches. `cellctl router`
// runs from an esbuild bundle instead (bin/router-bundle.mjs says why); CELLSIM_ROUTER_BUNDLE=0
// runs it through tsx like every other command.
import { pathToFileURL } from 'node:url';

const bundle =
  process.argv[2] === 'router' && process.env.CELLSIM_ROUTER_BUNDLE !== '0'
    ? await (await import('./router-bundle.mjs')).routerBundle()
    : undefined;
if (bundle !== undefined) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cellctl.ts');
}

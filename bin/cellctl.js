#!/usr/bin/env node
// cellctl entry point: loads the TypeScript sources through tsx, then dispatches.
import { register } from 'tsx/esm/api';

register();
await import('./cellctl.ts');

/**
 * Entry of the router bundle (bin/router-bundle.mjs): `cellctl router` with nothing else of the
 * CLI, compiled ahead so the router process runs without tsx's loader.
 */
import * as router from '../router/cli.js';
import { reportFailure, runCommand } from './run-command.js';

runCommand('router', router, process.argv.slice(3)).catch(reportFailure);

/** Bundle entry of `cellctl router` (bin/bundle.mjs): that command and nothing else of the CLI. */
import * as router from '../../router/cli.js';
import { reportFailure, runCommand } from '../run-command.js';

runCommand('router', router, process.argv.slice(3)).catch(reportFailure);

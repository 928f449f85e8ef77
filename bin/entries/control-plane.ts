/** Bundle entry of `cellctl control-plane` (bin/bundle.mjs): that command and nothing else of the CLI. */
import * as controlPlane from '../../control-plane/cli.js';
import { reportFailure, runCommand } from '../run-command.js';

runCommand('control-plane', controlPlane, process.argv.slice(3)).catch(reportFailure);

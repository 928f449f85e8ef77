/** Bundle entry of `cellctl cell` (bin/bundle.mjs): that command and nothing else of the CLI. */
import * as cell from '../../cells/cli.js';
import { reportFailure, runCommand } from '../run-command.js';

runCommand('cell', cell, process.argv.slice(3)).catch(reportFailure);

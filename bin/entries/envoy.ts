/** Bundle entry of `cellctl envoy` (bin/bundle.mjs): that command and nothing else of the CLI. */
import * as envoy from '../../control-plane/envoy-cli.js';
import { reportFailure, runCommand } from '../run-command.js';

runCommand('envoy', envoy, process.argv.slice(3)).catch(reportFailure);

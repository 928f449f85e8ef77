/**
 * The shell watchdog every spawned child of cellsim runs under (test processes and the children
 * of `cellctl up`): the child dies with the process that started it, even on SIGKILL. A module of
 * its own with no side effects, so the supervisor can use it without the test harness's exit hooks.
 */
// Runs the command in the background, waits while both the watching process ($1)
// and the child live; if the watcher is gone, kills the child's whole group.
const WATCHDOG = `
watcher=$1; shift
"$@" &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit $?' TERM INT
while kill -0 "$watcher" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
if ! kill -0 "$watcher" 2>/dev/null; then kill -KILL 0; fi
wait $child
`;

/**
 * The arguments of `bash` that run `command args` under the watchdog: the command dies with
 * this process (even on SIGKILL). Spawn it detached, so the watchdog leads its own group.
 */
export function watchdogArgs(command: string, args: readonly string[]): string[] {
  return ['-c', WATCHDOG, 'watchdog', String(process.pid), command, ...args];
}

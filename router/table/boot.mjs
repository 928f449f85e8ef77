// Worker-thread entry: worker threads do not inherit the tsx loader of the main thread, so
// register it here, then load the TypeScript module named in workerData.__entry.
import { register } from 'tsx/esm/api';
import { workerData } from 'node:worker_threads';

register();
await import(workerData.__entry);

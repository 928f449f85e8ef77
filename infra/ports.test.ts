import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { ephemeralLow, freePorts } from './ports.js';

describe('free ports', () => {
  it("are drawn below the kernel's ephemeral range, distinct, and bindable", async () => {
    const low = ephemeralLow();
    const ports = await freePorts(40);
    assert.equal(new Set(ports).size, 40);
    for (const p of ports) assert.ok(p >= 20000 && p < low, `${p} outside [20000, ${low})`);
    for (const p of ports.slice(0, 5)) {
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(p, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });
});

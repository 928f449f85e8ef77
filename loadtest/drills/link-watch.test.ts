import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downAt, linkEventAt } from './link-watch.js';

const line = (flags: string, name = 'cs-0d51-7@if2', stamp = '2026-12-06T20:28:30.483496') =>
  `[${stamp}] 12: ${name}: <${flags}> mtu 1500 qdisc noqueue master cs-0d51-br state DOWN group default \\    link/ether 32:a0:d6:5f:19:9f brd ff:ff:ff:ff:ff:ff`;

describe('link watch: the moment a host link went down, from ip -ts -o monitor link', () => {
  it('reads the stamp of a link of the run whose flags lost UP, to the millisecond', () => {
    assert.equal(downAt(line('BROADCAST,MULTICAST,M-DOWN'), 'cs-0d51-'), new Date('2026-12-06T20:28:30.483').getTime());
  });

  it('ignores a link that is up, another run, a deletion and anything else', () => {
    assert.equal(downAt(line('BROADCAST,MULTICAST,UP,LOWER_UP'), 'cs-0d51-'), undefined);
    assert.equal(downAt(line('BROADCAST,MULTICAST'), 'cs-a1b2-'), undefined);
    assert.equal(downAt(line('BROADCAST,MULTICAST').replace('] 12:', '] Deleted 12:'), 'cs-0d51-'), undefined);
    assert.equal(downAt('Timestamp: no', 'cs-0d51-'), undefined);
  });

  it('reads the stamp of a link of the run up again, and nothing from one still down', () => {
    const at = new Date('2026-12-06T20:28:30.483').getTime();
    assert.equal(linkEventAt(line('BROADCAST,MULTICAST,UP'), 'cs-0d51-', true), at);
    assert.equal(linkEventAt(line('BROADCAST,MULTICAST,UP,LOWER_UP'), 'cs-0d51-', true), at);
    assert.equal(linkEventAt(line('BROADCAST,MULTICAST,M-DOWN'), 'cs-0d51-', true), undefined);
    assert.equal(linkEventAt(line('BROADCAST,MULTICAST,UP'), 'cs-a1b2-', true), undefined);
  });
});

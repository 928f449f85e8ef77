/** The keys-only listing scanner reads what JSON.parse reads, whatever the chunking, and refuses escapes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyListScanner } from './key-scan.js';

function scan(text: string, size: number): { keys: string[]; ok: boolean } {
  const keys: string[] = [];
  const s = new KeyListScanner((k) => keys.push(k));
  for (let i = 0; i < text.length; i += size) s.push(text.slice(i, i + size));
  return { keys, ok: s.end() };
}

describe('KeyListScanner', () => {
  const keys = ['cellsim/markets/m-0', 'cellsim/markets/m-1', 'cellsim/markets/', 'cellsim/markets/Bad Key'];
  for (const [name, text] of [
    ['compact', JSON.stringify(keys)],
    ['pretty-printed (Consul dev mode)', JSON.stringify(keys, null, 4)],
  ] as const) {
    it(`reads every key of a ${name} listing in any chunking`, () => {
      for (const size of [1, 3, 7, 64, 10_000]) assert.deepEqual(scan(text, size), { keys, ok: true }, `chunks of ${size}`);
    });
  }

  it('reads an empty listing', () => {
    assert.deepEqual(scan('[]', 1), { keys: [], ok: true });
  });

  it('answers false for an escaped key, so the caller parses the listing whole', () => {
    assert.equal(scan(JSON.stringify(['cellsim/markets/a"b']), 4).ok, false);
    assert.equal(scan(JSON.stringify(['cellsim/markets/a\\b']), 4).ok, false);
  });

  it('answers false for a listing cut inside a key', () => {
    assert.equal(scan('["cellsim/markets/m-0","cellsim/mar', 5).ok, false);
  });
});

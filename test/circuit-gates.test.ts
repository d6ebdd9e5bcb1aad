import { describe, expect, it } from 'vitest';
import { allCircuitOps } from '../ir/circuit/ops.ts';

// Every circuit op carries the meaning its class needs, on its own definition (gates/): a
// gate without it would only fail when some circuit first reached it at run time.
describe('circuit op definitions', () => {
  it('local ops evaluate, dealer ops make material, comm ops count their bytes', () => {
    const missing: string[] = [];
    for (const d of allCircuitOps()) {
      if (d.cls === 'local' && d.evaluate === undefined) missing.push(`${d.name}: no evaluate`);
      if (d.cls === 'dealer' && d.dealer === undefined) missing.push(`${d.name}: no dealer material`);
      if (d.cls === 'comm' && d.comm === undefined) missing.push(`${d.name}: no comm bytes`);
      if (d.cls !== 'local' && d.evaluate !== undefined) missing.push(`${d.name}: evaluate on a ${d.cls} op`);
    }
    expect(missing).toEqual([]);
  });
});

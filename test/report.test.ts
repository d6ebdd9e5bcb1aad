// Cost reports: cost.json fields and their arithmetic (latency formula, per-layer sums),
// the text table, the Table-5 comparison, and the HTML report (self-contained; rendered in
// headless Chromium when it is installed).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileModel, type Compiled } from '../compiler/backend/compile.ts';
import { compareRows, costJson, formatComparison, formatCostTable, PROFILES, renderHtmlReport } from '../compiler/backend/report/index.ts';
import { loadModel } from '../compiler/load.ts';

let base: Compiled;
let opt: Compiled;

beforeAll(() => {
  const g = loadModel(join(import.meta.dirname, '..', 'examples', 'bert-tiny.onnx'), { batch: 1, seq: 8 });
  base = compileModel(g, { protocols: 'crypten' });
  opt = compileModel(g, { protocols: 'crypten', passes: 'gelu-mix{lambdas=[0,0]}' });
});

describe('cost.json', () => {
  it('has the top-level fields, consistent with the circuit cost', () => {
    const j = costJson(opt, 'bert-tiny');
    expect(j.rounds).toBe(opt.cost.rounds);
    expect(j.criticalPathRounds).toBe(j.rounds);
    expect(j.unmergedRounds).toBeGreaterThanOrEqual(j.rounds);
    expect(j.bytesTotal).toBe(j.bytesPerParty[0] + j.bytesPerParty[1]);
    expect(j.bytesTotal).toBe(j.onlineBytesTotal + j.preprocessingBytesTotal);
    expect(j.dealerBytes).toBeGreaterThan(0);
    expect(Object.keys(j.latencySeconds).sort()).toEqual(['lan', 'wan']);
    expect(j.perRound.length).toBe(j.rounds + j.preprocessingRounds);
    const layerBytes = Object.values(j.perLayer).reduce((a, e) => a + e.bytes, 0);
    expect(layerBytes).toBe(j.onlineBytesTotal);
    const opBytes = Object.values(j.perOp).reduce((a, e) => a + e.bytes + e.preprocessingBytes, 0);
    expect(opBytes).toBe(j.bytesTotal);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
  });

  it('latency = online rounds x RTT + max online bytes one party sends / bandwidth', () => {
    const j = costJson(base);
    const maxSent = Math.max(...j.onlineBytesPerParty);
    expect(j.latencySeconds['lan']).toBeCloseTo(j.rounds * 0.2e-3 + maxSent / 1.25e9, 12);
    expect(j.latencySeconds['wan']).toBeCloseTo(j.rounds * 40e-3 + maxSent / 44e6, 12);
    // the server also sends the output share, so it sends the most
    expect(j.onlineBytesPerParty[0]).toBeGreaterThan(j.onlineBytesPerParty[1]);
    expect(j.onlineBytesPerParty[0] + j.onlineBytesPerParty[1]).toBe(j.onlineBytesTotal);
  });
});

describe('text reports', () => {
  it('the table shows both round counts, every byte category and the formula', () => {
    const t = formatCostTable(base);
    expect(t).toMatch(new RegExp(`online rounds \\(scheduled, merged\\)\\s+${base.cost.rounds}`));
    expect(t).toMatch(new RegExp(`critical-path bound\\s+${base.cost.rounds}`));
    expect(t).toMatch(new RegExp(`unmerged \\(one per protocol step\\)\\s+${base.cost.unmergedRounds}`));
    for (const s of ['P0 (server) sends', 'P1 (client) sends', 'on the wire', 'dealer sends', 'per op kind', 'per layer', 'latency = online rounds x RTT', 'lan', 'wan', 'softmax', 'L1']) {
      expect(t).toContain(s);
    }
  });

  it('the comparison has Table 5 columns, speedup and communication reduction', () => {
    const rows = compareRows(base, opt);
    expect(rows[0]!.speedup['lan']).toBe(1);
    expect(rows[0]!.communicationReduction).toBe(0);
    expect(rows[1]!.communicationReduction).toBeCloseTo(1 - opt.cost.bytesTotal / base.cost.bytesTotal, 12);
    expect(rows[1]!.speedup['wan']).toBeCloseTo(rows[0]!.latencySeconds['wan']! / rows[1]!.latencySeconds['wan']!, 12);
    expect(rows[1]!.communicationReduction).toBeGreaterThan(0); // ReLU in the first layers is cheaper than GELU
    const text = formatComparison(base, opt);
    expect(text).toMatch(/method\s+rounds\s+comm \(GB\)\s+LAN \(s\)\s+WAN \(s\)\s+speedup LAN\/WAN\s+comm reduction/);
    expect(text).toContain('optimized: raise-bert,fold-batch-norm,canonicalize,gelu-mix{lambdas=[0,0]} [crypten]');
  });
});

/** Decodes an 8-bit RGB/RGBA PNG into [width, height, channels, pixels]. */
function decodePng(buf: Buffer): { w: number; h: number; ch: number; px: Uint8Array } {
  let pos = 8;
  let w = 0;
  let h = 0;
  let ch = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0);
      h = data.readUInt32BE(4);
      expect(data[8]).toBe(8);
      ch = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  expect(ch).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = w * ch;
  const px = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= ch ? px[y * stride + x - ch]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= ch && y > 0 ? px[(y - 1) * stride + x - ch]! : 0;
      let p = 0;
      if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) {
        const e = a + b - c;
        const [pa, pb, pc] = [Math.abs(e - a), Math.abs(e - b), Math.abs(e - c)];
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (v + p) & 255;
    }
  }
  return { w, h, ch, px };
}

describe('HTML report', () => {
  it('is self-contained: inline CSS and SVG, no scripts, no network', () => {
    const html = renderHtmlReport({ model: 'bert-tiny', baseline: base, optimized: opt });
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html).not.toMatch(/@import/i);
    expect((html.match(/<svg /g) ?? []).length).toBe(3);
    // one bar segment per (layer, run, kind) with a value; baseline and optimized both there
    expect(html).toContain('baseline L0 softmax');
    expect(html).toContain('optimized L0 activation');
    for (const p of PROFILES) expect(html).toContain(`latency ${p.name}`);
  });

  it.skipIf(!existsSync('/usr/bin/chromium'))('renders in headless Chromium to a non-blank page', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ig3dc-html-'));
    const file = join(dir, 'r.html');
    const png = join(dir, 'r.png');
    writeFileSync(file, renderHtmlReport({ model: 'bert-tiny', baseline: base, optimized: opt }));
    execFileSync('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--screenshot=${png}`, '--window-size=1200,1600', `file://${file}`], {
      stdio: 'ignore',
      timeout: 60_000,
    });
    const { w, h, ch, px } = decodePng(readFileSync(png));
    expect([w, h]).toEqual([1200, 1600]);
    let nonWhite = 0;
    const colors = new Set<number>();
    for (let i = 0; i < w * h; i++) {
      const [r, g, b] = [px[i * ch]!, px[i * ch + 1]!, px[i * ch + 2]!];
      if (r < 240 || g < 240 || b < 240) nonWhite++;
      colors.add((r << 16) | (g << 8) | b);
    }
    expect(nonWhite / (w * h)).toBeGreaterThan(0.02);
    // the op-kind colors of the bars: softmax red and activation orange at least
    expect(colors.has(0xd62728)).toBe(true);
    expect(colors.has(0xff7f0e)).toBe(true);
  }, 90_000);
});

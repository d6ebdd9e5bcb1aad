// Importance annotations: the fixtures' JSON, the text form (parser, writer, errors at
// line:column / JSON path) and the check against the model's shape.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../compiler/frontend/import.ts';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { printGraph } from '../ir/printer.ts';
import { parsePipeline, runPipeline } from '../passes/index.ts';
import {
  type ImportanceAnnotation,
  checkAnnotationFits,
  importanceOf,
  modelShape,
  parseImportance,
  parseImportanceJson,
  parseImportanceText,
  readImportanceFile,
  writeImportanceText,
} from '../passes/ig3d/index.ts';
import { caught, EXAMPLES, FIXTURES, haveFixtures, raisedSpamBert, runText } from './ig3d-helpers.ts';


const METHOD_FILES = ['importance.json', 'importance-weightnorm.json', 'importance-gradsens.json', 'importance-entropy.json'];

describe.skipIf(!haveFixtures)('the fixtures JSON', () => {
  it('reads importance.json as written', () => {
    const raw = JSON.parse(readFileSync(join(FIXTURES, 'importance.json'), 'utf8')) as { scores: number[][] };
    const a = readImportanceFile(join(FIXTURES, 'importance.json'));
    expect(a).toMatchObject({ model: 'spam-bert.onnx', method: 'integrated-gradients', steps: 16, examples: 200, layers: 4, heads: 4, higherIsMoreImportant: true });
    expect(a.scores).toEqual(raw.scores);
    expect(importanceOf(a)).toEqual(raw.scores);
  });

  it.each(METHOD_FILES)('%s: ranking by the oriented importance is the file\'s importance_order', (file) => {
    const raw = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as { importance_order: [number, number][]; higher_is_more_important: boolean };
    const a = readImportanceFile(join(FIXTURES, file));
    expect(a.higherIsMoreImportant).toBe(raw.higher_is_more_important);
    const imp = importanceOf(a)!;
    const heads = imp.flatMap((row, l) => row.map((s, h) => ({ l, h, s })));
    heads.sort((x, y) => y.s - x.s);
    expect(heads.map((x) => [x.l, x.h])).toEqual(raw.importance_order);
  });

  it('negates lower-is-more-important scores', () => {
    const a = readImportanceFile(join(FIXTURES, 'importance-entropy.json'));
    expect(a.higherIsMoreImportant).toBe(false);
    expect(importanceOf(a)![1]![2]).toBe(-a.scores![1]![2]!);
  });
});

describe('JSON errors name the JSON path', () => {
  const bad: [string, string, RegExp][] = [
    ['a head missing in one layer', '{"scores": [[1,2,3,4],[1,2,3,4],[1,2,3],[1,2,3,4]], "heads": 4}', /^scores\[2\]: expected 4 heads \("heads": 4\), got 3$/],
    ['rows of different widths', '{"scores": [[1,2],[1,2,3]]}', /^scores\[1\]: expected 2 heads \(as scores\[0\]\), got 3$/],
    ['a score that is not a number', '{"scores": [[1,2],[1,"x"]]}', /^scores\[1\]\[1\]: expected a finite number, got string "x"$/],
    ['no scores', '{"method": "ig"}', /^scores: missing/],
    ['layer count not as declared', '{"scores": [[1,2]], "layers": 2}', /^scores: expected 2 layers \("layers": 2\), got 1$/],
    ['orientation not a boolean', '{"scores": [[1]], "higher_is_more_important": "yes"}', /^higher_is_more_important: expected true or false/],
    ['not an object', '[1, 2]', /expected a JSON object with "scores"/],
  ];
  it.each(bad)('%s', (_what, text, message) => {
    const e = caught(() => parseImportanceJson(text, 'imp.json'));
    expect(e.kind).toBe('input');
    expect(e.place.file).toBe('imp.json');
    expect(e.detail).toMatch(message);
  });

  it('a JSON syntax error has a line:column', () => {
    const e = caught(() => parseImportance('{"scores": [[1, 2],\n  [3 4]]}', 'imp.json'));
    expect(e.place).toMatchObject({ file: 'imp.json', line: 2, column: 6 });
  });
});

const EXAMPLE = `# importance for spam-bert, integrated gradients, m=16, 200 examples
model spam-bert layers 2 heads 3
method integrated-gradients higher-is-more-important
steps 16 examples 200
scores
  L0: 1.115e-3 1.307e-3 1.596e-3
  L1: 0.5 -2 +3
keep L1H1          # never prune
prune L0H0 L0H2    # always prune
exact L1H2
poly L0H1
lambda L1 = 0.5
`;

describe('the text form', () => {
  it('reads scores, metadata and pins', () => {
    const a = parseImportanceText(EXAMPLE, 'a.txt');
    expect(a).toMatchObject({ model: 'spam-bert', method: 'integrated-gradients', steps: 16, examples: 200, layers: 2, heads: 3, higherIsMoreImportant: true });
    expect(a.scores).toEqual([
      [1.115e-3, 1.307e-3, 1.596e-3],
      [0.5, -2, 3],
    ]);
    expect(a.headPins.map((p) => [p.kind, p.layer, p.head])).toEqual([
      ['keep', 1, 1],
      ['prune', 0, 0],
      ['prune', 0, 2],
      ['exact', 1, 2],
      ['poly', 0, 1],
    ]);
    expect(a.headPins[2]!.place).toEqual({ file: 'a.txt', line: 9, column: 12 });
    expect(a.lambdaPins.map((p) => [p.layer, p.value])).toEqual([[1, 0.5]]);
  });

  it('takes the shape from the scores when there is no model line, and reads pin-only files', () => {
    const a = parseImportanceText('method entropy lower-is-more-important\nscores L0: 4 5\nL1: 3 2');
    expect([a.layers, a.heads, a.higherIsMoreImportant]).toEqual([2, 2, false]);
    expect(importanceOf(a)).toEqual([
      [-4, -5],
      [-3, -2],
    ]);
    const pins = parseImportanceText('prune L1H0\nlambda L0 = 0');
    expect(pins.scores).toBeUndefined();
    expect(pins.layers).toBeUndefined();
    expect(importanceOf(pins)).toBeUndefined();
  });

  it('quoted names may be keywords or contain spaces', () => {
    expect(parseImportanceText('model "scores" layers 1 heads 1\nmethod "my method"').model).toBe('scores');
    expect(parseImportanceText('method "my method"').method).toBe('my method');
  });

  const bad: [string, string, number, number, RegExp][] = [
    ['a stray character', 'model spam-bert\nkeep L0H0 ;', 2, 11, /unexpected character ";"/],
    ['a layer where a head belongs', 'keep L0', 1, 6, /expected a head like L0H1 but found 'L0'/],
    ['an unknown statement', 'model m\nsource x', 2, 1, /expected a statement .* but found 'source'/],
    ['rows out of order', 'scores\nL0: 1 2\nL2: 1 2', 3, 1, /expected the row of layer L1 here, got L2/],
    ['a row with a missing score', 'model m layers 2 heads 2\nscores\n  L0: 1 2\n  L1: 3', 4, 3, /L1 has 1 scores, expected 2 \(the model line says 2 heads\)/],
    ['a row with an extra score', 'scores\n  L0: 1 2\n  L1: 3 4 5', 3, 11, /L1 has 3 scores, expected 2 \(as L0 has 2 heads\)/],
    ['too few rows', 'model m layers 3 heads 1\nscores L0: 1 L1: 2', 2, 1, /scores has 2 layer rows, but the model line says 3 layers/],
    ['a pin beyond the declared heads', 'model m layers 2 heads 2\nexact L1H2', 2, 7, /L1H2: the model line says 2 heads per layer/],
    ['a pin beyond the declared layers', 'model m layers 2 heads 2\nprune L2H0', 2, 7, /L2H0: the model line says 2 layers/],
    ['conflicting pins', 'keep L0H1\nprune L0H0 L0H1', 2, 12, /L0H1 is pinned to 'prune' here but to 'keep' at 1:6/],
    ['conflicting methods', 'poly L0H1\nexact L0H1', 2, 7, /pinned to 'exact' here but to 'poly'/],
    ['lambda out of range', 'lambda L0 = 1.5', 1, 13, /lambda must be in \[0, 1\]/],
    ['lambda twice', 'lambda L0 = 1\nlambda L0 = 0', 2, 1, /lambda of L0 is given twice \(first at 1:1\)/],
    ['lambda without a value', 'lambda L0 =', 1, 12, /expected a number but found the end of the file/],
    ['a model line twice', 'model a\nmodel b', 2, 1, /'model' is given twice/],
    ['a fractional layer count', 'model m layers 2.5 heads 2', 1, 16, /layers must be an integer >= 1/],
    ['an infinite score', 'scores L0: 1e999', 1, 12, /not a finite number/],
  ];
  it.each(bad)('error: %s', (_what, text, line, column, message) => {
    const e = caught(() => parseImportanceText(text, 'a.txt'));
    expect(e.kind).toBe('syntax');
    expect(e.detail).toMatch(message);
    expect(e.place).toEqual({ file: 'a.txt', line, column });
    expect(e.message.startsWith(`a.txt:${line}:${column}: `)).toBe(true);
  });

  /** The parts of an annotation the text form carries (places and file names aside). */
  const content = (a: ImportanceAnnotation) => ({
    model: a.model,
    method: a.method,
    steps: a.steps,
    examples: a.examples,
    layers: a.layers,
    heads: a.heads,
    scores: a.scores,
    higher: a.higherIsMoreImportant,
    pins: a.headPins.map((p) => [p.kind, p.layer, p.head]),
    lambdas: a.lambdaPins.map((p) => [p.layer, p.value]),
  });

  const nameArb = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,12}$/), fc.string({ maxLength: 12 }).filter((s) => !/[\n\\"\u0000-\u001f]/.test(s)), fc.constantFrom('scores', 'keep', 'L0', 'L1H2'));
  const annotationArb = fc
    .record({ layers: fc.integer({ min: 1, max: 5 }), heads: fc.integer({ min: 1, max: 5 }) })
    .chain(({ layers, heads }) =>
      fc.record({
        model: fc.option(nameArb, { nil: undefined }),
        method: fc.option(nameArb, { nil: undefined }),
        steps: fc.option(fc.nat(100), { nil: undefined }),
        examples: fc.option(fc.nat(1000), { nil: undefined }),
        scores: fc.option(fc.array(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: heads, maxLength: heads }), { minLength: layers, maxLength: layers }), { nil: undefined }),
        higherIsMoreImportant: fc.boolean(),
        pins: fc.uniqueArray(fc.record({ layer: fc.nat(layers - 1), head: fc.nat(heads - 1), keep: fc.boolean(), exact: fc.boolean() }), { selector: (p) => `${p.layer}:${p.head}`, maxLength: 6 }),
        lambdas: fc.uniqueArray(fc.record({ layer: fc.nat(layers - 1), value: fc.double({ min: 0, max: 1, noNaN: true }) }), { selector: (p) => p.layer, maxLength: layers }),
        layers: fc.constant(layers),
        heads: fc.constant(heads),
      }),
    )
    .map(
      (r): ImportanceAnnotation => ({
        ...(r.model !== undefined ? { model: r.model } : {}),
        ...(r.method !== undefined ? { method: r.method } : {}),
        ...(r.steps !== undefined ? { steps: r.steps } : {}),
        ...(r.examples !== undefined ? { examples: r.examples } : {}),
        layers: r.layers,
        heads: r.heads,
        ...(r.scores !== undefined ? { scores: r.scores.map((row) => row.map((x) => (Object.is(x, -0) ? 0 : x))) } : {}),
        higherIsMoreImportant: r.higherIsMoreImportant,
        headPins: r.pins.flatMap((p) => [
          { kind: p.keep ? ('keep' as const) : ('prune' as const), layer: p.layer, head: p.head, place: {} },
          { kind: p.exact ? ('exact' as const) : ('poly' as const), layer: p.layer, head: p.head, place: {} },
        ]),
        lambdaPins: r.lambdas.map((p) => ({ layer: p.layer, value: p.value, place: {} })),
      }),
    );

  it('the writer and the parser round-trip (fast-check)', () => {
    fc.assert(
      fc.property(annotationArb, (a) => {
        const text = writeImportanceText(a, ['a comment']);
        const back = parseImportanceText(text);
        expect(content(back)).toEqual(content(a));
      }),
      { numRuns: 200 },
    );
  });

  it.skipIf(!haveFixtures)('every fixture JSON converts to the text form and back', () => {
    for (const file of METHOD_FILES) {
      const a = readImportanceFile(join(FIXTURES, file));
      const back = parseImportanceText(writeImportanceText(a));
      expect(back.scores).toEqual(a.scores);
      expect(importanceOf(back)).toEqual(importanceOf(a));
      expect([back.method, back.layers, back.heads]).toEqual([a.method, a.layers, a.heads]);
    }
  });
});

describe.skipIf(!haveFixtures)('annotations against the model', () => {
  const graph = () => raisedSpamBert(1, 8);

  it('the example files parse and fit spam-bert', () => {
    const shape = modelShape(graph(), 'test');
    expect([shape.layers, shape.heads]).toEqual([4, 4]);
    for (const f of ['spam-bert-ig.txt', 'spam-bert-pins.txt']) {
      const a = readImportanceFile(join(EXAMPLES, f));
      expect(() => checkAnnotationFits(a, shape)).not.toThrow();
    }
    const ig = readImportanceFile(join(EXAMPLES, 'spam-bert-ig.txt'));
    expect(ig.scores).toEqual(readImportanceFile(join(FIXTURES, 'importance.json')).scores);
  });

  it('an annotation of another shape is an error that names both shapes', () => {
    const a = parseImportanceText('model tiny layers 2 heads 2\nscores L0: 1 2 L1: 3 4', 'tiny.txt');
    const e = caught(() => runText(graph(), 'prune-heads{tau=2}', a));
    expect(e.kind).toBe('input');
    expect(e.detail).toMatch(/describes 2 layers x 2 heads, but the model has 4 layers x 4 heads/);
    expect(e.place).toEqual({ file: 'tiny.txt', line: 1, column: 1 });
    const wide = parseImportanceJson(JSON.stringify({ scores: [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]] }), 'wide.json');
    for (const p of ['softmax-to-poly{tau=2}', 'gelu-mix']) {
      expect(caught(() => runText(graph(), p, wide)).detail).toMatch(/describes 4 layers x 5 heads, but the model has 4 layers x 4 heads/);
    }
  });

  it('a pin outside the model is an error at the pin', () => {
    const a = parseImportanceText('# pins\nprune L0H1\nprune L4H0', 'pins.txt');
    const e = caught(() => runText(graph(), 'prune-heads', a));
    expect(e.detail).toMatch(/prune L4H0: the model has 4 layers \(L0..L3\)/);
    expect(e.place).toEqual({ file: 'pins.txt', line: 3, column: 7 });
    const h = parseImportanceText('poly L0H7', 'pins.txt');
    expect(caught(() => runText(graph(), 'softmax-to-poly', h)).detail).toMatch(/poly L0H7: the model has 4 heads per layer/);
    const l = parseImportanceText('lambda L9 = 0', 'pins.txt');
    expect(caught(() => runText(graph(), 'gelu-mix', l)).detail).toMatch(/lambda L9: the model has 4 layers/);
  });

  it('the importance resource may be a file name; a missing file is an io error naming it', () => {
    const g = graph();
    const byPath = runPipeline(g, parsePipeline('prune-heads{ratio=0.3}'), { resources: new Map([['importance', join(FIXTURES, 'importance.json')]]) }).graph;
    const byValue = runText(g, 'prune-heads{ratio=0.3}', readImportanceFile(join(FIXTURES, 'importance.json'))).graph;
    expect(printGraph(byPath)).toBe(printGraph(byValue));
    const e = caught(() => runPipeline(g, parsePipeline('prune-heads{ratio=0.3}'), { resources: new Map([['importance', '/nonexistent/imp.txt']]) }));
    expect(e.kind).toBe('io');
    expect(e.place.file).toBe('/nonexistent/imp.txt');
    expect(caught(() => runPipeline(g, parsePipeline('gelu-mix'), { resources: new Map([['importance', 42]]) })).detail).toMatch(/neither an importance annotation nor a file name/);
  });

  it('an unraised model is an error saying to raise it first', () => {
    const { graph: imported } = loadOnnxFile(join(FIXTURES, 'spam-bert.onnx'), { batch: 1, seq: 8 });
    for (const p of ['prune-heads', 'softmax-to-poly', 'gelu-mix']) {
      const e = caught(() => runText(imported, p, parseImportanceText('prune L0H0')));
      expect(e.kind).toBe('usage');
      expect(e.detail).toMatch(/no raised attention .* run raise-bert first/);
    }
  });
});

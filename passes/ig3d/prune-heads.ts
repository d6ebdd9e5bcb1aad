// prune-heads{tau|ratio, min-keep}: structural head pruning (IG-3D, Keep(l,h) = S(l,h) >= tau
// with a global ranking across layers). A pruned head's columns of Wq/Wk/Wv (and biases) and
// its rows of the output projection are cut out of the weights, so every shape of the block
// shrinks; a layer that loses every head keeps only the output bias on its residual path.

import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import { type Node, constNode, constValue } from '../../ir/node.ts';
import { Tensor } from '../../ir/tensor.ts';
import { type Pass, type PassOptionSpec, type PassOptions } from '../pass.ts';
import { any, constant, either, op, type Captures, type Pattern } from '../pattern.ts';
import { type RewriteContext, type Rule, rewriteGraph, rule } from '../rewrite.ts';
import { type ImportanceAnnotation, checkAnnotationFits } from './annotations.ts';
import { modelShape, type ModelShape } from './model-shape.ts';
import { annotationFrom, checkOptions, selectionOf, type Selection, noteForeignAnnotation } from './options.ts';
import { type HeadRef, type Ranked, headKey, headName, leastImportant, rankDescending, requireImportance } from './ranking.ts';

export const PRUNE_HEADS = 'prune-heads';

export const PRUNE_HEADS_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  tau: { kind: 'number', doc: 'keep heads with importance >= tau (global across layers); any finite number' },
  ratio: { kind: 'number', min: 0, max: 1, doc: 'prune this fraction of all heads, least important first, in [0, 1) (instead of tau)' },
  'min-keep': { kind: 'number', default: 0.3, min: 0, max: 1, doc: 'keep at least ceil(min-keep * all heads), the most important' },
};

/**
 * Which heads to prune, by `headKey`. Scores decide first (tau or ratio), then min-keep
 * restores the most important pruned heads until enough are kept, then the file's
 * keep/prune pins override both. Without scores (`sel.kind === 'pins'`) only pins count.
 */
export function choosePrunedHeads(importance: readonly (readonly number[])[] | undefined, sel: Selection, minKeep: number, annotation?: ImportanceAnnotation): Set<string> {
  const pruned = new Set<string>();
  const units: Ranked<HeadRef>[] = [];
  importance?.forEach((row, layer) => row.forEach((score, head) => units.push({ unit: { layer, head }, score })));
  if (sel.kind !== 'pins') {
    const off = leastImportant(units, sel);
    const ranked = rankDescending(units);
    const need = Math.min(units.length, Math.ceil(minKeep * units.length - 1e-9));
    let kept = units.length - off.size;
    for (const u of ranked) {
      if (kept >= need) break;
      if (off.delete(u.unit)) kept++;
    }
    for (const u of off) pruned.add(headKey(u.layer, u.head));
  }
  for (const p of annotation?.headPins ?? []) {
    if (p.kind === 'prune') pruned.add(headKey(p.layer, p.head));
    else if (p.kind === 'keep') pruned.delete(headKey(p.layer, p.head));
  }
  return pruned;
}

// --- the attention block, as raise-bert produces it -----------------------------------------

const W = (name: string): Pattern => constant(name);

/** Linear{role}(x, W, b?) with constant weights; captures `${c}`, `${c}X`, `${c}W`, `${c}B`. */
function linear(role: string, c: string, inner?: Pattern): Pattern {
  const x = inner ?? any(`${c}X`);
  return either(
    op('Linear', [x, W(`${c}W`), W(`${c}B`)], { attrs: { role }, capture: c }),
    op('Linear', [x, W(`${c}W`)], { attrs: { role }, capture: c }),
  );
}

const projectedHeads = (role: string, c: string): Pattern => op('SplitHeads', [linear(role, c)], { capture: `s${c}` });

/** Linear_q/k/v -> SplitHeads -> AttentionScores -> AttentionSoftmax -> AttentionContext -> MergeHeads -> Linear{attention-output}. */
export const ATTENTION_BLOCK: Pattern = linear(
  'attention-output',
  'o',
  op(
    'MergeHeads',
    [
      op(
        'AttentionContext',
        [op('AttentionSoftmax', [op('AttentionScores', [projectedHeads('query', 'q'), projectedHeads('key', 'k')], { capture: 'scores' }), any('keep')], { capture: 'softmax' }), projectedHeads('value', 'v')],
        { capture: 'context' },
      ),
    ],
    { capture: 'merge' },
  ),
);

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function floatStorage(like: Tensor, n: number): Float32Array | Float64Array {
  return like.data instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/** A constant of the given columns (groups of `width` starting at `starts`) of a [K, N] matrix, or of a [N] vector. */
function selectColumns(node: Node, starts: readonly number[], width: number): Node {
  const t = constValue(node)!;
  const rows = t.shape.length === 2 ? t.shape[0]! : 1;
  const N = t.shape[t.shape.length - 1]!;
  const M = starts.length * width;
  const out = floatStorage(t, rows * M);
  for (let r = 0; r < rows; r++) {
    starts.forEach((s, k) => {
      for (let j = 0; j < width; j++) out[r * M + k * width + j] = t.at(r * N + s + j);
    });
  }
  const shape = t.shape.length === 2 ? [rows, M] : [M];
  return constNode(new Tensor(t.dtype, shape, out), { ...node.type, shape }, node.loc);
}

/** A constant of the given rows (groups of `width` starting at `starts`) of a [K, N] matrix. */
function selectRows(node: Node, starts: readonly number[], width: number): Node {
  const t = constValue(node)!;
  const N = t.shape[1]!;
  const out = floatStorage(t, starts.length * width * N);
  starts.forEach((s, k) => {
    for (let j = 0; j < width; j++) for (let c = 0; c < N; c++) out[(k * width + j) * N + c] = t.at((s + j) * N + c);
  });
  const shape = [starts.length * width, N];
  return constNode(new Tensor(t.dtype, shape, out), { ...node.type, shape }, node.loc);
}

/** The rule, consulting `isPruned(layer, head)` (original head ids). */
export function pruneHeadsRule(isPruned: (layer: number, head: number) => boolean): Rule {
  return rule(
    'PrunedHeadsToSlicedAttention',
    'attention block with pruned heads -> the same block over the kept heads (sliced Wq/Wk/Wv columns, Wo rows); no heads left -> Expand(bo)',
    ATTENTION_BLOCK,
    (c: Captures, ctx: RewriteContext) => {
      const get = (k: string): Node => c[k]!;
      const softmax = get('softmax');
      const layer = softmax.loc.layer;
      if (layer === undefined) return undefined;
      const heads = get('sq').attrs['heads'] as readonly number[];
      const consistent = [get('sk'), get('sv'), softmax, get('context')].every((n) => sameList(n.attrs['heads'] as readonly number[], heads));
      if (!consistent || !heads.some((h) => isPruned(layer, h))) return undefined;
      const keptPos = heads.map((h, i) => (isPruned(layer, h) ? -1 : i)).filter((i) => i >= 0);
      const root = ctx.root;
      const outBias = c['oB'];
      if (keptPos.length === 0) {
        // no head left: the projection of nothing is its bias, broadcast over [B, S, D]
        const D = root.type.shape[root.type.shape.length - 1]!;
        const bias = outBias ?? constNode(Tensor.zeros(root.type.elem, [D]), { ...root.type, shape: [D] }, root.loc);
        return ctx.build('Expand', [bias], { shape: [...root.type.shape] }, root.loc);
      }
      const d = get('sq').type.shape[3]!;
      const starts = keptPos.map((i) => i * d);
      const kept = keptPos.map((i) => heads[i]!);
      const project = (p: 'q' | 'k' | 'v'): Node => {
        const lin = get(p);
        const b = c[`${p}B`];
        const inputs = [get(`${p}X`), selectColumns(get(`${p}W`), starts, d), ...(b ? [selectColumns(b, starts, d)] : [])];
        const x = ctx.build('Linear', inputs, lin.attrs, lin.loc);
        return ctx.build('SplitHeads', [x], { heads: kept }, get(`s${p}`).loc);
      };
      const [q, k, v] = [project('q'), project('k'), project('v')];
      const scores = ctx.build('AttentionScores', [q, k], get('scores').attrs, get('scores').loc);
      const methods = softmax.attrs['methods'] as readonly string[];
      const probs = ctx.build('AttentionSoftmax', [scores, get('keep')], { ...softmax.attrs, heads: kept, methods: keptPos.map((i) => methods[i]!) }, softmax.loc);
      const context = ctx.build('AttentionContext', [probs, v], { heads: kept }, get('context').loc);
      const merged = ctx.build('MergeHeads', [context], {}, get('merge').loc);
      const wo = selectRows(get('oW'), starts, d);
      return ctx.build('Linear', [merged, wo, ...(outBias ? [outBias] : [])], root.attrs, root.loc);
    },
    { changesType: true },
  );
}

function describeHeads(keys: Iterable<string>): string {
  const list = [...keys].map((k) => k.split(':').map(Number) as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return list.length === 0 ? 'none' : list.map(([l, h]) => headName(l, h)).join(' ');
}

/** Pruning with the decision already made (by `headKey`); checks afterwards that every chosen head is gone. */
export function pruneHeads(graph: Graph, pruned: ReadonlySet<string>, shape: ModelShape = modelShape(graph, PRUNE_HEADS)): Graph {
  const out = rewriteGraph(graph, [pruneHeadsRule((l, h) => pruned.has(headKey(l, h)))]).graph;
  const after = modelShape(out, PRUNE_HEADS);
  const left: string[] = [];
  for (const [layer, a] of after.attention) for (const h of a.heads) if (pruned.has(headKey(layer, h))) left.push(headName(layer, h));
  if (left.length > 0) {
    const layer = Number(/^L(\d+)/.exec(left[0]!)![1]);
    const n = shape.attention.get(layer)?.softmax;
    throw new Ig3dcError(
      'usage',
      `${PRUNE_HEADS}: could not prune ${left.join(' ')}: the attention block does not have the raised form (Linear{query,key,value} with constant weights -> SplitHeads -> AttentionScores -> AttentionSoftmax -> AttentionContext -> MergeHeads -> Linear{attention-output})`,
      n?.loc.name !== undefined ? { node: n.loc.name } : {},
    );
  }
  return out;
}

function run(graph: Graph, given: PassOptions, ctx: Parameters<Pass['run']>[2]): Graph {
  const options = checkOptions(PRUNE_HEADS, PRUNE_HEADS_OPTIONS, given);
  const sel = selectionOf(PRUNE_HEADS, options, true);
  const minKeep = options['min-keep'] as number;
  const annotation = annotationFrom(ctx, PRUNE_HEADS);
  const shape = modelShape(graph, PRUNE_HEADS);
  if (annotation !== undefined) checkAnnotationFits(annotation, shape);
  if (annotation !== undefined) noteForeignAnnotation(ctx, PRUNE_HEADS, annotation, graph.name);
  const importance = requireImportance(PRUNE_HEADS, annotation, sel);
  if (sel.kind === 'pins' && annotation === undefined) {
    throw new Ig3dcError('usage', `${PRUNE_HEADS}: nothing to decide with: give tau=.. or ratio=.. and an importance file (--importance FILE), or an annotation file that pins heads`);
  }
  const pruned = choosePrunedHeads(importance, sel, minKeep, annotation);
  const present = [...shape.attention.values()].flatMap((a) => a.heads.map((h) => headKey(a.layer, h)));
  const now = new Set(present.filter((k) => pruned.has(k)));
  ctx.note(PRUNE_HEADS, `pruning ${now.size} of ${present.length} heads: ${describeHeads(now)}`);
  // the global ranking (IG-3D's Keep(l,h) = S(l,h) >= tau across layers) may take all of a layer
  for (const a of shape.attention.values()) {
    if (a.heads.length > 0 && a.heads.every((h) => now.has(headKey(a.layer, h)))) {
      ctx.note(PRUNE_HEADS, `layer ${a.layer} loses all its heads (the global ranking puts them all below the cut): its attention block reduces to the output projection's bias`);
    }
  }
  for (const p of annotation?.headPins ?? []) {
    if (p.kind === 'keep' && !present.includes(headKey(p.layer, p.head))) ctx.note(PRUNE_HEADS, `keep ${headName(p.layer, p.head)}: that head was already pruned from the model`);
  }
  return now.size === 0 ? graph : pruneHeads(graph, now, shape);
}

export const PRUNE_HEADS_PASS: Pass = {
  name: PRUNE_HEADS,
  summary: 'IG-3D structural pruning: remove attention heads with importance below tau (or the ratio least important), slicing Wq/Wk/Wv/Wo',
  options: PRUNE_HEADS_OPTIONS,
  rules: [pruneHeadsRule(() => false)],
  run,
};

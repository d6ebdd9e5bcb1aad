// prune-tokens{theta=[..], beta=[..] | ratio=.., thresholds="FILE", bucket=8, degree=2, reduce=select}:
// CipherPrune's encrypted token pruning and polynomial reduction on a raised encoder.
//
// After layer l (l = 0..L-2) it inserts, on the hidden state leaving the layer:
//   score  = TokenImportance(probs_l, keep_l)          attention received, mean over heads/rows
//   keep'  = TokenKeep{theta_l | ratio}(score, keep_l)  survivors ([CLS] always; padding never)
//   reduce = TokenReduce{beta_l}(score, keep')         survivors with theta <= S < beta
//   h', keep_{l+1}, reduce' = CompactTokens(., keep')  survivors to the front, in order
// and layer l+1 attends over keep_{l+1}. Where beta > theta, layer l+1 computes its softmax
// rows and GELU per token: TokenSelect(reduce', low-degree, full), the low degree being
// PolySoftmax of `degree` and ReLU. The static graph keeps S positions (pruned ones are zero
// and masked); segments.ts cuts it at the boundaries, where the survivor count is opened and
// the next segment runs on that count rounded up to a multiple of `bucket`. With
// reduce=reveal-count (an opt-in: it reveals more) a boundary also reveals how many survivors
// are reduced, and segments.ts gives the next segment the full-degree rows first and the
// reduced rows after them, each group bucketed, each degree computed on its own rows only.

import { build } from '../../ir/build.ts';
import { Ig3dcError } from '../../ir/diagnostics.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Attrs, Loc, Node } from '../../ir/node.ts';
import { CONST_OP, INPUT_OP } from '../../ir/node.ts';
import type { Pass, PassContext, PassOptionSpec, PassOptions } from '../pass.ts';
import { checkOptions } from '../ig3d/options.ts';
import { tokenPath, type TokenLayer } from './layers.ts';
import { checkThresholds, readThresholdsFile, type TokenThresholds } from './thresholds.ts';

export const PRUNE_TOKENS = 'prune-tokens';

export const PRUNE_TOKENS_OPTIONS: Readonly<Record<string, PassOptionSpec>> = {
  theta: { kind: 'numbers', doc: 'per boundary between layers (L-1 values in [0, 1]): prune tokens whose importance is below' },
  beta: { kind: 'numbers', doc: 'per boundary (L-1 values, >= theta): surviving tokens below use the lower-degree polynomials next layer; default theta (no reduction)' },
  ratio: { kind: 'number', min: 0, max: 0.99, doc: 'instead of theta: a fixed schedule dropping this fraction of the kept tokens at every boundary' },
  thresholds: { kind: 'string', doc: 'read theta and beta from this file (written by `ig3dc tune --tokens`)' },
  bucket: { kind: 'int', default: 8, min: 1, doc: 'segment shapes are rounded up to a multiple of this; must divide the sequence length' },
  degree: { kind: 'int', default: 2, min: 1, max: 8, doc: 'degree of the reduced tokens\' PolySoftmax' },
  reduce: {
    kind: 'enum',
    values: ['select', 'reveal-count'],
    default: 'select',
    doc: 'in segments, how reduced tokens get their degree: "select" computes both degrees for every token and selects per token (reveals only the survivor count); "reveal-count" also reveals the number of reduced tokens per example and boundary, groups them after the full-degree ones and computes each degree on its own rows only (cheaper)',
  },
};

/** What to insert at each boundary. */
export interface TokenPolicy {
  readonly thresholds?: TokenThresholds;
  /** A fixed schedule instead of thresholds. */
  readonly ratio?: number;
  readonly bucket: number;
  readonly degree: number;
  /** prune-tokens{reduce=reveal-count}: boundaries reveal the number of reduced tokens too (see TokenReduce). */
  readonly revealReduced?: boolean;
}

function usage(detail: string): Ig3dcError {
  return new Ig3dcError('usage', `${PRUNE_TOKENS}: ${detail}`);
}

export function policyOf(options: PassOptions, layers: number): TokenPolicy {
  const bucket = options['bucket'] as number;
  const degree = options['degree'] as number;
  const ratio = options['ratio'] as number | undefined;
  const file = options['thresholds'] as string | undefined;
  const theta = options['theta'] as readonly number[] | undefined;
  const revealReduced = options['reduce'] === 'reveal-count';
  const given = [ratio !== undefined, file !== undefined, theta !== undefined].filter(Boolean).length;
  if (given !== 1) throw usage('give exactly one of theta=[..], ratio=.. or thresholds="FILE"');
  if (ratio !== undefined) {
    if (options['beta'] !== undefined) throw usage('beta goes with theta (ratio prunes by a fixed schedule without reduction)');
    if (revealReduced) throw usage('reduce=reveal-count goes with beta (ratio prunes by a fixed schedule without reduction)');
    return { ratio, bucket, degree };
  }
  const t: TokenThresholds = file !== undefined ? readThresholdsFile(file) : { theta: theta!, beta: (options['beta'] as readonly number[] | undefined) ?? theta! };
  checkThresholds(PRUNE_TOKENS, t, layers, file);
  return { thresholds: t, bucket, degree, ...(revealReduced ? { revealReduced } : {}) };
}

/** The graph with the pruning ops inserted at every boundary (see the header). */
export function pruneTokens(graph: Graph, policy: TokenPolicy): Graph {
  const path = tokenPath(graph, PRUNE_TOKENS);
  const S = path.layers[0]!.input.type.shape[1]!;
  if (S % policy.bucket !== 0) throw usage(`bucket ${policy.bucket} does not divide the sequence length ${S}`);
  const byInput = new Map<Node, TokenLayer>(path.layers.slice(1).map((t) => [t.input, t]));
  const mask0 = path.layers[0]!.mask;
  const maskOf = new Map<number, Node>();
  const reduceOf = new Map<number, Node>();
  const done = new Map<Node, Node>();
  const at = (n: Node): Node => done.get(n)!;
  for (const n of graph.nodes()) {
    if (n.op === INPUT_OP || n.op === CONST_OP) {
      done.set(n, n);
      continue;
    }
    const layer = n.loc.layer;
    const inputs = n.inputs.map((i) => (i === mask0 && layer !== undefined && maskOf.has(layer) ? maskOf.get(layer)! : at(i)));
    let out = build(n.op, inputs, n.attrs, n.loc);
    const red = layer === undefined ? undefined : reduceOf.get(layer);
    if (red !== undefined && n.op === 'AttentionSoftmax') {
      const heads = n.attrs['heads'] as readonly number[];
      const low = build('AttentionSoftmax', inputs, { ...n.attrs, methods: heads.map(() => 'poly'), degree: policy.degree, shift: true, clip: 0 }, sub(n.loc, 'reduced'));
      out = build('TokenSelect', [red, low, out], { axis: 2 }, sub(n.loc, 'token-degree'));
    } else if (red !== undefined && (n.op === 'Gelu' || n.op === 'GeluMix')) {
      const low = build('Relu', [inputs[0]!], {}, sub(n.loc, 'reduced'));
      out = build('TokenSelect', [red, low, out], { axis: 1 }, sub(n.loc, 'token-degree'));
    }
    const next = byInput.get(n);
    if (next !== undefined) {
      const l = next.layer - 1;
      const prev = path.layers[l]!;
      const probs = at(prev.softmax);
      const keep = l === 0 ? at(mask0) : maskOf.get(l)!;
      const loc: Loc = { name: `prune-tokens/${l}`, layer: l };
      const score = build('TokenImportance', [probs, keep], {}, sub(loc, 'importance'));
      const t = policy.thresholds;
      const keepAttrs: Attrs = t !== undefined ? { theta: t.theta[l]!, bucket: policy.bucket } : { ratio: policy.ratio!, bucket: policy.bucket };
      const survivors = build('TokenKeep', [score, keep], keepAttrs, sub(loc, 'keep'));
      maskOf.set(l + 1, build('CompactTokens', [survivors, survivors], { axis: 3 }, sub(loc, 'compact-mask')));
      if (t !== undefined && t.beta[l]! > t.theta[l]!) {
        const reduce = build('TokenReduce', [score, survivors], { beta: t.beta[l]!, ...(policy.revealReduced === true ? { reveal: true } : {}) }, sub(loc, 'reduce'));
        reduceOf.set(l + 1, build('CompactTokens', [reduce, survivors], { axis: 3 }, sub(loc, 'compact-reduce')));
      }
      out = build('CompactTokens', [out, survivors], { axis: 1 }, sub(loc, 'compact'));
    }
    done.set(n, out);
  }
  return graph.with({ outputs: graph.outputs.map((o) => ({ name: o.name, node: at(o.node) })) });
}

function sub(loc: Loc, what: string): Loc {
  return { ...loc, name: `${loc.name ?? 'node'}/${what}` };
}

function run(graph: Graph, given: PassOptions, ctx: PassContext): Graph {
  const options = checkOptions(PRUNE_TOKENS, PRUNE_TOKENS_OPTIONS, given);
  const path = tokenPath(graph, PRUNE_TOKENS);
  const policy = policyOf(options, path.layers.length);
  const what = policy.ratio !== undefined ? `a fixed schedule dropping ${policy.ratio} of the tokens` : `theta [${policy.thresholds!.theta.join(', ')}], beta [${policy.thresholds!.beta.join(', ')}]`;
  ctx.note(PRUNE_TOKENS, `token pruning after layers 0..${path.layers.length - 2}: ${what}; segments rounded up to multiples of ${policy.bucket}`);
  return pruneTokens(graph, policy);
}

export const PRUNE_TOKENS_PASS: Pass = {
  name: PRUNE_TOKENS,
  summary: 'CipherPrune token pruning: drop tokens whose received attention is below theta after each layer (oblivious compaction), lower-degree softmax/GELU below beta',
  options: PRUNE_TOKENS_OPTIONS,
  run,
};

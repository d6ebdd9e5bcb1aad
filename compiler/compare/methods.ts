// The methods `ig3dc compare-methods` puts side by side, as data: each one's name, the system
// it stands for, and the configurations (pass pipelines over the importance ranking) its knob
// ranges over. IG-3D's configuration comes from its own joint threshold search (`tune`); the
// related systems' from these lists. Configurations are listed least aggressive first: when
// none stays within the budget, the first one is what the table shows (over the budget).
//
// - mpcvit: MPCViT's heterogeneous attention, every head RSAttn or ScaleAttn; the knob is
//   mu = #RSAttn / #heads, the least important heads (by the importance file, standing in for
//   MPCViT's differentiable search) taking ScaleAttn.
// - polytransformer: PolyTransformer's scaled-ReLU attention ReLU(s) / sqrt(n) on every head.
// - mpcformer: MPCFormer's 2Quad attention (s + c)^2 / sum (s + c)^2 on every head and its Quad
//   GELU 0.125 x^2 + 0.25 x + 0.5 in every layer.
// Without the retraining (or distillation) the systems pair these with, a trained softmax model
// loses accuracy: that is what the comparison measures.

import { Ig3dcError } from '../../ir/diagnostics.ts';

export interface MethodConfig {
  /** What the knob is set to, for the table. */
  readonly knob: string;
  /** The passes that apply it to the raised model (with the importance file as --importance). */
  readonly pipeline: string;
}

export interface RelatedMethod {
  readonly name: string;
  /** The system it follows, for the table. */
  readonly system: string;
  readonly summary: string;
  /** Configurations over `heads` attention heads, least aggressive first. */
  configs(heads: number): readonly MethodConfig[];
}

const fmt = (x: number): string => Number(x.toFixed(4)).toString();

export const RELATED_METHODS: readonly RelatedMethod[] = [
  {
    name: 'mpcvit',
    system: 'MPCViT-style',
    summary: 'heterogeneous attention: RSAttn on the important heads, ScaleAttn on the others; knob mu = #RSAttn / #heads',
    configs: (heads) =>
      Array.from({ length: heads + 1 }, (_, k) => ({
        knob: `mu=${fmt((heads - k) / heads)} (${heads - k} rsattn, ${k} scale)`,
        pipeline: `attention-method{method=rsattn,ratio=1}${k > 0 ? `,attention-method{method=scale,ratio=${k / heads}}` : ''}`,
      })),
  },
  {
    name: 'polytransformer',
    system: 'PolyTransformer-style',
    summary: 'scaled-ReLU attention ReLU(s) / sqrt(n) on every head',
    configs: () => [{ knob: 'scaled-relu on all heads', pipeline: 'attention-method{method=scaled-relu,ratio=1}' }],
  },
  {
    name: 'mpcformer',
    system: 'MPCFormer-style',
    summary: '2Quad attention (s + c)^2 / sum (s + c)^2 (c = 5) on every head, Quad GELU in every layer',
    configs: () => [{ knob: '2quad on all heads + quad GELU', pipeline: 'attention-method{method=2quad,ratio=1},quad-gelu' }],
  },
];

/** IG-3D's joint threshold search, the method the others are compared with. */
export const IG3D_METHOD = 'ig3d';

/** Every method name `--methods` accepts. */
export const METHOD_NAMES: readonly string[] = [IG3D_METHOD, ...RELATED_METHODS.map((m) => m.name)];

/** The methods named in a comma-separated list (all when undefined); an unknown name is a usage error. */
export function parseMethods(list: string | undefined): string[] {
  if (list === undefined) return [...METHOD_NAMES];
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new Ig3dcError('usage', `--methods: give at least one of ${METHOD_NAMES.join(', ')}`);
  for (const n of names) {
    if (!METHOD_NAMES.includes(n)) throw new Ig3dcError('usage', `--methods: unknown method '${n}'; expected a comma-separated list of ${METHOD_NAMES.join(', ')}`);
  }
  return [...new Set(names)];
}

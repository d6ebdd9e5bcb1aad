// A model in segments with one party per process over TLS (tcp.ts). Each segment is a session of
// its own (fresh nonces, so fresh seeds): the party runs segment k, learns the survivor count its
// boundary reveals to both parties, picks segment k + 1 for that count's bucket exactly as the
// other party does (the same function of the same public count), and starts it from its own
// handed-off shares cut to the bucket's rows. Both hellos name the segment and bucket, so parties
// that picked different buckets stop with an error saying so. The dealer serves each session the
// circuit P1's hello names among the bucket circuits it holds for that segment (compiled ahead:
// the dealer holds no weights to compile with), so it learns which bucket was taken, the count
// rounded up, and nothing more.

import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Tensor } from '../ir/tensor.ts';
import { circuitContentHash } from '../ir/circuit/file.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { heldFor, type SegmentBundle } from '../ir/circuit/segment-bundle.ts';
import type { MeasuredCost } from './interpreter.ts';
import type { RoleKeys } from './keys.ts';
import type { Shares } from './party.ts';
import { COUNT_OUTPUT, revealedCounts, sharesFor, type SegmentShape, type SegmentSource } from './segments.ts';
import { runPartyTcp, type TcpPartyOptions } from './tcp.ts';
import { runDealerTcp, type DealerOptions, type DealerResult } from './dealer-server.ts';

const shapeTokens = (s: SegmentShape): number => s.reduce((a, b) => a + b, 0);

/** The content hash every role checks a circuit by (the circuit file's). */
export const circuitHashOf = circuitContentHash;

type Where = Pick<TcpPartyOptions, 'listen' | 'connect' | 'dealer' | 'onListening'>;

export interface TcpSegmentsOptions {
  readonly src: SegmentSource;
  readonly party: 0 | 1;
  /** P1: the model inputs of segment 0 (P0's weights come with each segment's circuit). */
  readonly inputs?: ReadonlyMap<string, Tensor>;
  readonly keys: RoleKeys;
  /** Where segment k's session meets: listen / connect towards the other party, the dealer's address. */
  readonly session: (k: number) => Where | Promise<Where>;
  /** The circuit's hash (default: computed from the circuit; a bundle knows it already). */
  readonly hashOf?: (k: number, tokens: number, c: Circuit) => string;
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly windowBytes?: number;
  readonly onRefused?: TcpPartyOptions['onRefused'];
  /** Called after each segment. */
  readonly onSegment?: (step: TcpSegmentStep) => void;
}

export interface TcpSegmentStep {
  readonly segment: number;
  readonly tokens: number;
  readonly shape: SegmentShape;
  readonly circuit: Circuit;
  readonly counts?: readonly number[];
  readonly cost: MeasuredCost;
  readonly sessionId: string;
  readonly corrections?: { readonly windowBytes: number; readonly peakQueuedBytes: number };
}

/** Runs one party's side of every segment (see the header). */
export async function runPartySegmentsTcp(o: TcpSegmentsOptions): Promise<{ outputs: Map<string, Tensor>; steps: TcpSegmentStep[] }> {
  const steps: TcpSegmentStep[] = [];
  let n: SegmentShape = [o.src.tokens];
  let handoffs: ReadonlyMap<string, Shares> | undefined;
  let outputs = new Map<string, Tensor>();
  for (let k = 0; k < o.src.segments; k++) {
    const { circuit, weights } = o.src.get(k, n);
    const where = await o.session(k);
    const r = await runPartyTcp({
      circuit,
      circuitHash: o.hashOf?.(k, shapeTokens(n), circuit) ?? circuitHashOf(circuit),
      party: o.party,
      segment: { index: k, tokens: shapeTokens(n) },
      tensors: o.party === 0 ? weights : k === 0 ? (o.inputs ?? new Map()) : new Map(),
      keys: o.keys,
      ...(handoffs !== undefined ? { shared: sharesFor(circuit, handoffs) } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      ...(o.windowBytes !== undefined ? { windowBytes: o.windowBytes } : {}),
      ...(o.onRefused !== undefined ? { onRefused: o.onRefused } : {}),
      ...where,
    });
    let step: TcpSegmentStep = { segment: k, tokens: shapeTokens(n), shape: n, circuit, cost: r.cost, sessionId: r.sessionId, ...(r.corrections !== undefined ? { corrections: r.corrections } : {}) };
    if (k + 1 === o.src.segments) outputs = r.outputs;
    else {
      const revealed = revealedCounts(r.outputs, circuit.name);
      step = { ...step, counts: revealed.get(COUNT_OUTPUT)! };
      n = o.src.next(k, revealed, n);
      handoffs = r.handoffs;
    }
    steps.push(step);
    o.onSegment?.(step);
  }
  return { outputs, steps };
}

export interface DealerSegmentResult extends DealerResult {
  readonly segment: number;
  /** The bucket P1's hello named (what the dealer learns of the count). */
  readonly tokens: number;
}

/** The dealer of a run in segments: one session per segment, each for the bucket circuit P1 names among the bundle's circuits of that segment. */
export async function runDealerSegmentsTcp(
  bundle: Pick<SegmentBundle, 'buckets' | 'circuits'>,
  opts: Omit<DealerOptions, 'circuit' | 'circuitHash' | 'alternatives' | 'segment' | 'listen'> & {
    /** Where session k listens. */
    readonly listen: (k: number) => DealerOptions['listen'];
    readonly onSegment?: (r: DealerSegmentResult) => void;
  },
): Promise<DealerSegmentResult[]> {
  const segments = bundle.buckets.length + 1;
  const of = (k: number): Map<string, { circuit: Circuit; tokens: number }> => new Map(bundle.circuits.filter((e) => e.segment === k).map((e) => [e.hash, { circuit: e.circuit, tokens: e.tokens }] as const));
  for (let k = 0; k < segments; k++) if (of(k).size === 0) throw new Ig3dcError('input', `the segments bundle has no circuit for segment ${k}: compile it again with every bucket`);
  const out: DealerSegmentResult[] = [];
  for (let k = 0; k < segments; k++) {
    const held = of(k);
    const [first] = held;
    const { listen, onSegment, ...rest } = opts;
    const r = await runDealerTcp({
      ...rest,
      listen: listen(k),
      circuit: first![1].circuit,
      circuitHash: first![0],
      alternatives: new Map([...held].map(([h, e]) => [h, e.circuit] as const)),
      segment: { index: k, held: heldFor(bundle, k) },
    });
    const step = { ...r, segment: k, tokens: held.get(r.circuitHash)!.tokens };
    out.push(step);
    onSegment?.(step);
  }
  return out;
}

// A model in segments with one party per process over TLS (tcp.ts). Each segment is a session of
// its own (fresh nonces, so fresh seeds): the party runs segment k, learns the survivor count its
// boundary reveals to both parties, picks segment k + 1 for that count's bucket exactly as the
// other party does (the same function of the same public count), and starts it from its own
// handed-off shares cut to the bucket's rows. The dealer serves each session the circuit P1's
// hello names among the bucket circuits it holds (compiled ahead: the dealer holds no weights to
// compile with), so it learns which bucket was taken, the count rounded up, and nothing more.

import type { Tensor } from '../ir/tensor.ts';
import { decodeCircuitFile, encodeCircuit } from '../ir/circuit/file.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import type { MeasuredCost } from './interpreter.ts';
import type { RoleKeys } from './keys.ts';
import type { Shares } from './party.ts';
import { COUNT_OUTPUT, revealedCounts, sharesFor, type SegmentShape, type SegmentSource } from './segments.ts';

const shapeTokens = (s: SegmentShape): number => s.reduce((a, b) => a + b, 0);
import { runPartyTcp, type TcpPartyOptions } from './tcp.ts';
import { runDealerTcp, type DealerOptions, type DealerResult } from './dealer-server.ts';

/** The content hash every role checks a circuit by (the circuit file's). */
export function circuitHashOf(c: Circuit): string {
  return decodeCircuitFile(encodeCircuit(c)).header.hash;
}

export interface TcpSegmentsOptions {
  readonly src: SegmentSource;
  readonly party: 0 | 1;
  /** P1: the model inputs of segment 0 (P0's weights come with each segment's circuit). */
  readonly inputs?: ReadonlyMap<string, Tensor>;
  readonly keys: RoleKeys;
  /** Where segment k's session meets: listen / connect towards the other party, the dealer's address. */
  readonly session: (k: number) => Pick<TcpPartyOptions, 'listen' | 'connect' | 'dealer' | 'onListening'> | Promise<Pick<TcpPartyOptions, 'listen' | 'connect' | 'dealer' | 'onListening'>>;
  readonly timeoutMs?: number;
}

export interface TcpSegmentStep {
  readonly segment: number;
  readonly tokens: number;
  readonly shape: SegmentShape;
  readonly counts?: readonly number[];
  readonly cost: MeasuredCost;
  readonly sessionId: string;
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
      circuitHash: circuitHashOf(circuit),
      party: o.party,
      tensors: o.party === 0 ? weights : k === 0 ? (o.inputs ?? new Map()) : new Map(),
      keys: o.keys,
      ...(handoffs !== undefined ? { shared: sharesFor(circuit, handoffs) } : {}),
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
      ...where,
    });
    if (k + 1 === o.src.segments) {
      outputs = r.outputs;
      steps.push({ segment: k, tokens: shapeTokens(n), shape: n, cost: r.cost, sessionId: r.sessionId });
    } else {
      const revealed = revealedCounts(r.outputs, circuit.name);
      steps.push({ segment: k, tokens: shapeTokens(n), shape: n, counts: revealed.get(COUNT_OUTPUT)!, cost: r.cost, sessionId: r.sessionId });
      n = o.src.next(k, revealed, n);
      handoffs = r.handoffs;
    }
  }
  return { outputs, steps };
}

/** The dealer of a run in segments: one session per segment, each for the bucket circuit P1 names. */
export async function runDealerSegmentsTcp(circuits: readonly Circuit[], segments: number, opts: Omit<DealerOptions, 'circuit' | 'circuitHash' | 'alternatives'>): Promise<DealerResult[]> {
  const byHash = new Map(circuits.map((c) => [circuitHashOf(c), c] as const));
  const [first] = byHash;
  const out: DealerResult[] = [];
  for (let k = 0; k < segments; k++) out.push(await runDealerTcp({ ...opts, circuit: first![1], circuitHash: first![0], alternatives: byHash }));
  return out;
}

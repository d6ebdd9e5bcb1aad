// The in-process interpreter: party 0, party 1 and the dealer in one thread. The two party
// programs (party.ts) run in lockstep: each runs until it has built its message for the
// round, the messages are counted and swapped, and both continue. Costs are measured from
// the messages actually built.

import type { LinkModel } from './link-model.ts';
import type { Tensor } from '../ir/tensor.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import type { CostSummary } from '../ir/circuit/cost.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { Dealer } from './dealer.ts';
import { checkPartyInputs, checkSharedInputs, partyProgram, type PartyResult, type Shares } from './party.ts';
import { exchanges, planParty, type Step } from './plan.ts';
import { measuredRounds } from './measured-rounds.ts';
import { admitCircuit } from './admit.ts';
import { deriveSeeds, type PartySeeds } from './prg.ts';
import { ringStats } from './kernels.ts';
import { LocalTransport, type MeasuredRound } from './transport.ts';
import { TruncationProbe, type TruncationReport } from './truncation-probe.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';
import { borrow, isLendable, takeBack } from './pool.ts';

type Ring = BigUint64Array;

export interface RunOptions {
  /** The client's (party 1) inputs by name. */
  readonly inputs: ReadonlyMap<string, Tensor>;
  /** The server's (party 0) weights by name. */
  readonly weights: ReadonlyMap<string, Tensor>;
  /** Master seed of all randomness (default: fresh random). */
  readonly seed?: Uint8Array;
  /** The three pairwise seeds themselves (e.g. a deployed session's, to replay it in one process); wins over `seed`. */
  readonly seeds?: PartySeeds;
  /** Each party's own shares of the circuit's shared inputs ([P0's, P1's]): a previous segment's handoffs. */
  readonly shared?: readonly [ReadonlyMap<string, Shares>, ReadonlyMap<string, Shares>];
  /** Registers whose two shares (or public copies) to keep and return. */
  readonly captureShares?: readonly number[];
  /** Run the leakage checker first (default true; off only for protocol tests that open a value on purpose). */
  readonly checkLeakage?: boolean;
  /** Fuse Beaver combinations into single steps (default true; the outputs, shares and transcript are the same either way). */
  readonly fuse?: boolean;
  /** Hash the transcript (default true; off saves a pass over every message). */
  readonly transcript?: boolean;
  /**
   * Reconstruct every local truncation's input from both shares and report the expected number
   * of truncation failures of this inference (a simulation diagnostic; off by default: it keeps
   * copies of the truncated values and does 64-bit big-integer work per element).
   */
  readonly truncationReport?: boolean;
  /** Worker mode: the two parties' messages delivered as this network would (link-model.ts; with preprocessFirst, the online phase crosses it alone). */
  readonly link?: LinkModel;
  /** Worker mode: dealer bytes a party may hold before the simulated dealer's thread waits for it to take them (default 16 MiB; a party that holds none always gets its next stretch). */
  readonly dealerWindowBytes?: number;
  /**
   * Worker mode: the preprocessing phase first, as a deployment with a dealer runs it (the
   * dealer's material, FSS keys included, made and shipped before the input exists): the
   * dealer's thread makes every word and posts it, no window, then the parties start. The result
   * carries the two phases' wall and CPU seconds (`phases`). The parties then hold all their
   * dealer words at once (BERT-base under fss: about 11 GB).
   */
  readonly preprocessFirst?: boolean;
  /** Called after each round (by party 1's progress). */
  readonly onRound?: (done: number, total: number, round: Extract<Step, { kind: 'round' }>, layer?: number) => void;
}

export interface MeasuredCost extends CostSummary {
  readonly byRound: readonly MeasuredRound[];
}

export interface RunResult {
  /** Declared outputs, decoded at their scale. */
  readonly outputs: Map<string, Tensor>;
  /** What the server (P0) learned: the outputs revealed to both parties. */
  readonly serverOutputs: Map<string, Tensor>;
  /** Each party's shares of what the circuit hands off to the next segment: [P0's, P1's]. */
  readonly handoffs: readonly [Map<string, Shares>, Map<string, Shares>];
  readonly cost: MeasuredCost;
  /** sha256 of P1's view: every round message and the dealer's words to P1, in order (the same seed gives the same transcript). */
  readonly transcriptHash: string;
  /** Captured registers: [P0's share, P1's share]. */
  readonly shares: Map<number, readonly [Ring, Ring]>;
  /** Ring multiply-accumulates of all matmuls (both parties and the dealer). */
  readonly ringMacs: number;
  /** With `truncationReport`: the expected truncation failures of this inference, by protocol. */
  readonly truncation?: TruncationReport;
  /** With `preprocessFirst`: the dealer's phase (every word made and delivered) and the online phase (the parties' run), wall and CPU seconds of this process. */
  readonly phases?: RunPhases;
}

export interface RunPhases {
  readonly preprocessingSeconds: number;
  readonly preprocessingCpuSeconds: number;
  readonly onlineSeconds: number;
  readonly onlineCpuSeconds: number;
  /** Of onlineCpuSeconds, the kernel's (page faults on fresh memory show up here). */
  readonly onlineSystemSeconds: number;
}

/** Executes a circuit with both parties and the dealer in this process. */
export function runCircuit(c: Circuit, opts: RunOptions): RunResult {
  tuneGarbageCollector();
  admitCircuit(c, undefined, opts.checkLeakage !== false);
  checkPartyInputs(c, 0, opts.weights);
  checkPartyInputs(c, 1, opts.inputs);
  checkSharedInputs(c, 0, opts.shared?.[0]);
  checkSharedInputs(c, 1, opts.shared?.[1]);
  const s = schedule(c);
  const macs0 = ringStats.macs;
  const seeds = opts.seeds ?? deriveSeeds(opts.seed);
  const net = new LocalTransport(opts.transcript !== false);
  // Each party's words in a buffer of their own: a lent one (an FSS key) comes back to this
  // thread's lent pool once the party's registers no longer view it, for the next layer's keys.
  const dealer = new Dealer(seeds.s0d, seeds.s1d);
  const received = (w: Ring): Ring => {
    if (isLendable(w)) borrow(w, takeBack);
    return w;
  };
  const keep = new Set(opts.captureShares ?? []);
  const captured: [Map<number, Ring>, Map<number, Ring>] = [new Map(), new Map()];
  const probe = opts.truncationReport === true ? new TruncationProbe(c) : undefined;
  const onDefine = (p: 0 | 1, r: number, v: Ring): void => {
    if (keep.has(r)) captured[p].set(r, v.slice());
    probe?.define(p, r, v);
  };
  const exch = exchanges(c, s);
  const totalRounds = exch.length;
  let roundsDone = 0;
  const programs = ([0, 1] as const).map((p) =>
    partyProgram({
      circuit: c,
      party: p,
      plan: planParty(c, p, keep, s, { fuse: opts.fuse !== false }),
      tensors: p === 0 ? opts.weights : opts.inputs,
      s01: seeds.s01,
      sd: p === 0 ? seeds.s0d : seeds.s1d,
      recycleMessages: true,
      ...(opts.shared !== undefined ? { shared: opts.shared[p] } : {}),
      correction: (ins, own) => received(net.dealerTo(p, dealer.material(ins, c.registers, p, own)!)),
      ...(keep.size > 0 || probe !== undefined ? { onDefine: (r: number, v: Ring) => onDefine(p, r, v) } : {}),
      ...(p === 1 && opts.onRound ? { onRound: (_k: number, st: Extract<Step, { kind: 'round' }>) => opts.onRound!(++roundsDone, totalRounds, st, c.instructions[st.comms[0]!]?.prov.layer) } : {}),
    }),
  );
  const roundKey: { phase: 'pre' | 'online'; round: number }[] = [];
  // Drive both: P0 to its next message, P1 to its next message, swap.
  let r0 = programs[0]!.next(new Uint8Array(0));
  let r1 = programs[1]!.next(new Uint8Array(0));
  while (!r0.done || !r1.done) {
    if (r0.done || r1.done) throw new Error('the parties disagree on the number of rounds');
    net.post(0, r0.value);
    net.post(1, r1.value);
    const idx = roundKey.length;
    roundKey.push({ phase: 'online', round: idx });
    const [toP0, toP1] = net.exchangeRaw();
    r0 = programs[0]!.next(toP0);
    r1 = programs[1]!.next(toP1);
  }
  const result: PartyResult = r1.value;
  const server: PartyResult = r0.value;
  const shares = new Map<number, readonly [Ring, Ring]>();
  for (const r of keep) {
    const a = captured[0].get(r);
    const b = captured[1].get(r);
    if (a !== undefined && b !== undefined) shares.set(r, [a, b]);
  }
  // Bytes per round of the schedule (an exchange can carry preprocessing opens).
  const byRound: MeasuredRound[] = measuredRounds(c, s, exch, [net.rounds.map((m) => m.bytesP0), net.rounds.map((m) => m.bytesP1)]);
  const count = (ph: 'pre' | 'online'): number => byRound.filter((m) => m.phase === ph).length;
  return {
    outputs: result.outputs,
    serverOutputs: server.outputs,
    handoffs: [server.handoffs, result.handoffs],
    cost: {
      rounds: count('online'),
      preprocessingRounds: count('pre'),
      bytesPerParty: [net.sent[0], net.sent[1]],
      bytesTotal: net.sent[0] + net.sent[1],
      dealerBytes: net.dealerBytes,
      dealerBytesPerParty: [net.dealerSent[0], net.dealerSent[1]],
      byRound,
    },
    transcriptHash: net.transcriptHash(),
    shares,
    ringMacs: ringStats.macs - macs0,
    ...(probe !== undefined ? { truncation: probe.report() } : {}),
  };
}

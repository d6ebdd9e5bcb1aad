// Three worker threads, one per party and one for the simulated dealer: both cores work at once
// (each party's local work between rounds runs in parallel, and the dealer makes the words to
// come while a party waits for its peer), each party's worker holds only its own seeds and
// shares and what the dealer posts it, and messages go thread to thread through MessagePorts
// (transferred, not copied). Same outputs and counts as runCircuit.

import { MessageChannel, Worker } from 'node:worker_threads';
import { Ig3dcError, type ErrorKind, type SourcePlace } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { admitCircuit } from './admit.ts';
import { deriveSeeds, type PartySeeds } from './prg.ts';
import type { MeasuredCost, RunOptions, RunPhases, RunResult } from './interpreter.ts';
import { checkPartyInputs } from './party.ts';
import { dealerSendsP0 } from './dealer-stream.ts';
import { THREAD_WINDOW_BYTES } from './dealer-words.ts';
import type { DealerSegmentMessage, DealerWorkerInput, DealerWorkerReply } from './dealer-worker.ts';
import type { SegmentMessage, WorkerInput, WorkerReply } from './party-worker.ts';
import type { Tensor } from '../ir/tensor.ts';
import { COUNT_OUTPUT, revealedCounts, type SegmentedOptions, type SegmentedResult, type SegmentShape, type SegmentSource, type SegmentStep } from './segments.ts';
import type { MeasuredRound } from './transport.ts';
import { measuredRounds } from './measured-rounds.ts';
import { exchanges } from './plan.ts';
import { fromWire } from './wire-tensor.ts';
import { serveTensors } from './tensor-requests.ts';
import { workerBootCode } from './worker-source.ts';
import { tuneGarbageCollector } from './gc-tuning.ts';


function errorFrom(reply: Extract<WorkerReply, { type: 'error' }>, who: string): Error {
  if (reply.kind !== undefined) return new Ig3dcError(reply.kind as ErrorKind, reply.detail, (reply.place ?? {}) as SourcePlace);
  return new Error(`${who} worker: ${reply.detail}`);
}

type DoneReply = Extract<WorkerReply, { type: 'done' }>;

/** The run's measured cost from both workers' replies: each counts what it sent per round and the dealer bytes it received. */
function workersCost(c: Circuit, s: ReturnType<typeof schedule>, r0: DoneReply, r1: DoneReply): MeasuredCost {
  const byRound: MeasuredRound[] = measuredRounds(c, s, exchanges(c, s), [r0.sentPerRound, r1.sentPerRound]);
  const b0 = r0.sentPerRound.reduce((a, b) => a + b, 0);
  const b1 = r1.sentPerRound.reduce((a, b) => a + b, 0);
  return {
    rounds: byRound.filter((r) => r.phase === 'online').length,
    preprocessingRounds: byRound.filter((r) => r.phase === 'pre').length,
    bytesPerParty: [b0, b1],
    bytesTotal: b0 + b1,
    dealerBytes: r0.dealerBytesPerParty[0] + r1.dealerBytesPerParty[1],
    dealerBytesPerParty: [r0.dealerBytesPerParty[0], r1.dealerBytesPerParty[1]],
    byRound,
  };
}

/** Runs a circuit with each party in its own worker thread (captureShares is not supported here). */
export async function runCircuitWorkers(c: Circuit, opts: RunOptions): Promise<RunResult> {
  admitCircuit(c, undefined, opts.checkLeakage !== false);
  if (c.instructions.some((i) => i.op === 'shared_input' || i.op === 'handoff')) {
    throw new Ig3dcError('usage', `circuit '${c.name}' is a segment (it starts from or hands off shares): run the segment sequence (runSegmentedCircuitsWorkers), in process or over TCP, not one segment alone`);
  }
  checkPartyInputs(c, 0, opts.weights);
  checkPartyInputs(c, 1, opts.inputs);
  const s = schedule(c);
  const seeds = opts.seeds ?? deriveSeeds(opts.seed);
  // the simulated dealer's channel to P0 only for circuits whose dealer sends P0 words (FSS keys)
  const served = ([0, 1] as const).map((party) => serveTensors(party === 0 ? opts.weights : opts.inputs));
  const first = opts.preprocessFirst === true;
  const inputs = workerInputs(c, served, seeds, dealerSendsP0(c), {
    ...(opts.link !== undefined ? { link: opts.link } : {}),
    progress: opts.onRound !== undefined,
    transcript: opts.transcript !== false,
    fuse: opts.fuse !== false,
  }, first ? Infinity : opts.dealerWindowBytes);
  const [in0, in1] = inputs.parties;
  const { parties: workers, dealer } = startWorkers(first ? { parties: [{ ...in0, awaitStart: true }, { ...in1, awaitStart: true }], dealer: { ...inputs.dealer, reportDealt: true } } : inputs);
  const dealerFailed = dealerFailure(dealer);
  // With the preprocessing phase first: the parties start when the dealer has posted every word.
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let online: { t: number; cpu: NodeJS.CpuUsage } | undefined;
  if (first) {
    dealer.on('message', (m: DealerWorkerReply) => {
      if (m.type !== 'dealt') return;
      online = { t: performance.now(), cpu: process.cpuUsage() };
      for (const w of workers) w.postMessage({ type: 'start' });
    });
  }
  try {
    const replies = await Promise.race([dealerFailed, Promise.all(
      workers.map(
        (w, party) =>
          new Promise<Extract<WorkerReply, { type: 'done' }>>((resolve, reject) => {
            w.on('message', (m: WorkerReply) => {
              if (m.type === 'done') resolve(m);
              else if (m.type === 'error') reject(errorFrom(m, `party ${party}`));
              else opts.onRound?.(m.done, m.total, { kind: 'round', phase: m.phase, round: m.round, comms: [], parts: [] }, m.layer);
            });
            w.on('error', (e) => reject(e));
            w.on('exit', (code) => reject(new Error(`party ${party} worker exited (code ${code}) before finishing`)));
          }),
      ),
    )]);
    const [r0, r1] = replies as [Extract<WorkerReply, { type: 'done' }>, Extract<WorkerReply, { type: 'done' }>];
    if (r0.sentPerRound.length !== r1.sentPerRound.length) throw new Error('the parties disagree on the number of rounds');
    const phases = online === undefined ? undefined : phasesOf(t0, c0, online, performance.now(), process.cpuUsage());
    return {
      ...(phases !== undefined ? { phases } : {}),
      outputs: fromWire(r1.outputs),
      serverOutputs: fromWire(r0.outputs),
      handoffs: [new Map(), new Map()],
      cost: workersCost(c, s, r0, r1),
      transcriptHash: r1.transcript,
      shares: new Map(),
      ringMacs: r0.macs + r1.macs,
    };
  } finally {
    for (const sv of served) sv.close();
    await Promise.all([...workers, dealer].map((w) => w.terminate()));
  }
}

/**
 * A model in segments with each party in its own worker thread: each worker runs the segment
 * sequence, keeping its own shares between segments (they never leave it) and learning each
 * boundary's revealed count there. This thread learns only what both workers report, the counts
 * (and, at the end, P1's outputs); from them it picks the next segment for each party (both must
 * agree, as two processes would), compiles it if need be (the source) and posts it to both.
 */
export async function runSegmentedCircuitsWorkers(src: SegmentSource, opts: SegmentedOptions): Promise<SegmentedResult> {
  const seeds = opts.seeds ?? deriveSeeds(opts.seed);
  let n: SegmentShape = [src.tokens];
  let { circuit: c, weights } = src.get(0, n);
  admitCircuit(c, undefined, opts.checkLeakage !== false);
  checkPartyInputs(c, 0, weights);
  checkPartyInputs(c, 1, opts.inputs);
  // the simulated dealer's channel to P0 is always open: a later segment's dealer may send P0 words (FSS keys)
  let served = ([0, 1] as const).map((party) => serveTensors(party === 0 ? weights : opts.inputs));
  const { parties: workers, dealer } = startWorkers(workerInputs(c, served, seeds, true, { progress: false, transcript: true, fuse: true, segmented: true }, opts.dealerWindowBytes));
  const dealerFailed = dealerFailure(dealer);
  // each worker's replies, in order
  const replies = workers.map((w, party) => {
    const queue: WorkerReply[] = [];
    let waiting: { resolve: (m: Extract<WorkerReply, { type: 'done' }>) => void; reject: (e: unknown) => void } | undefined;
    let failed: unknown;
    const fail = (e: unknown): void => {
      failed ??= e;
      waiting?.reject(e);
      waiting = undefined;
    };
    w.on('message', (m: WorkerReply) => {
      if (m.type === 'error') fail(errorFrom(m, `party ${party}`));
      else if (m.type === 'done') {
        if (waiting !== undefined) {
          const wt = waiting;
          waiting = undefined;
          wt.resolve(m);
        } else queue.push(m);
      }
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`party ${party} worker exited (code ${code}) before finishing`)));
    dealerFailed.catch(fail);
    return (): Promise<Extract<WorkerReply, { type: 'done' }>> => {
      if (failed !== undefined) return Promise.reject(failed);
      const m = queue.shift();
      if (m !== undefined) return Promise.resolve(m as Extract<WorkerReply, { type: 'done' }>);
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    };
  });
  const steps: SegmentStep[] = [];
  let outputs = new Map<string, Tensor>();
  try {
    for (let k = 0; k < src.segments; k++) {
      const [r0, r1] = await Promise.all([replies[0]!(), replies[1]!()]);
      for (const sv of served) sv.close();
      const s = schedule(c);
      const cost = workersCost(c, s, r0, r1);
      let step: SegmentStep = { segment: k, tokens: n.reduce((a, b) => a + b, 0), shape: n, circuit: c.name, cost, transcriptHash: r1.transcript };
      const out1 = fromWire(r1.outputs);
      if (k + 1 === src.segments) {
        outputs = out1;
        for (const w of workers) w.postMessage({ type: 'stop' } satisfies SegmentMessage);
        dealer.postMessage({ type: 'stop' } satisfies DealerSegmentMessage);
      } else {
        const client = revealedCounts(out1, c.name);
        const server = revealedCounts(fromWire(r0.outputs), c.name);
        step = { ...step, counts: client.get(COUNT_OUTPUT)!, serverCounts: server.get(COUNT_OUTPUT)! };
        // each party's pick, from the counts it learned
        const n0 = src.next(k, server, n);
        const n1 = src.next(k, client, n);
        if (n0.join('+') !== n1.join('+')) throw new Error(`the parties picked different segments after boundary ${k} ([${n0.join(', ')}] and [${n1.join(', ')}] tokens)`);
        n = n1;
        ({ circuit: c, weights } = src.get(k + 1, n));
        admitCircuit(c, undefined, opts.checkLeakage !== false);
        checkPartyInputs(c, 0, weights);
        served = ([0, 1] as const).map((party) => serveTensors(party === 0 ? weights : new Map()));
        workers.forEach((w, party) => {
          const msg: SegmentMessage = { type: 'next', circuit: c, tensors: served[party]!.requests };
          w.postMessage(msg, [msg.tensors.port]);
        });
        dealer.postMessage({ type: 'next', circuit: c } satisfies DealerSegmentMessage);
      }
      steps.push(step);
      opts.onSegment?.(step);
    }
  } finally {
    for (const sv of served) sv.close();
    await Promise.all([...workers, dealer].map((w) => w.terminate()));
  }
  return { outputs, steps };
}

/** What each of a run's three threads starts with. */
export interface WorkerInputs {
  readonly parties: readonly [WorkerInput, WorkerInput];
  readonly dealer: DealerWorkerInput;
}

/**
 * The three threads' start data: each party's worker gets only its own role's seeds, its end of
 * the peer channel, its end of its channel from the dealer (P0's only when the dealer may send P0
 * words) and where to ask for its own tensors; the dealer's thread gets the two dealer seeds
 * (never s01), the circuit and its ends of those channels.
 */
export function workerInputs(
  c: Circuit,
  served: readonly { readonly requests: WorkerInput['tensors'] }[],
  seeds: PartySeeds,
  dealerToP0: boolean,
  flags: Pick<WorkerInput, 'progress' | 'transcript' | 'fuse' | 'segmented' | 'link'>,
  windowBytes = THREAD_WINDOW_BYTES,
): WorkerInputs {
  const { port1, port2 } = new MessageChannel();
  const toP0 = dealerToP0 ? new MessageChannel() : undefined;
  const toP1 = new MessageChannel();
  const parties = ([0, 1] as const).map(
    (party): WorkerInput => ({
      circuit: c,
      party,
      tensors: served[party]!.requests,
      s01: seeds.s01,
      sd: party === 0 ? seeds.s0d : seeds.s1d,
      peer: party === 0 ? port1 : port2,
      ...(party === 1 ? { dealerPort: toP1.port2 } : toP0 !== undefined ? { dealerPort: toP0.port2 } : {}),
      ...flags,
    }),
  ) as [WorkerInput, WorkerInput];
  const dealer: DealerWorkerInput = {
    circuit: c,
    s0d: seeds.s0d,
    s1d: seeds.s1d,
    ...(toP0 !== undefined ? { toP0: toP0.port1 } : {}),
    toP1: toP1.port1,
    fuse: flags.fuse,
    windowBytes,
    ...(flags.segmented === true ? { segmented: true } : {}),
  };
  return { parties, dealer };
}

/** The run's three worker threads: P0's, P1's and the simulated dealer's (workerInputs). */
function startWorkers(inputs: WorkerInputs): { parties: Worker[]; dealer: Worker } {
  // Before the threads exist: the flag is the process's, every thread's heap follows it.
  tuneGarbageCollector();
  const code = workerBootCode(new URL('./party-worker.ts', import.meta.url), import.meta.url);
  const parties = inputs.parties.map((data) => {
    const transfer = data.dealerPort !== undefined ? [data.peer, data.tensors.port, data.dealerPort] : [data.peer, data.tensors.port];
    return new Worker(code, { eval: true, workerData: data, transferList: transfer });
  });
  const dd = inputs.dealer;
  const dealer = new Worker(workerBootCode(new URL('./dealer-worker.ts', import.meta.url), import.meta.url), {
    eval: true,
    workerData: dd,
    transferList: dd.toP0 !== undefined ? [dd.toP0, dd.toP1] : [dd.toP1],
  });
  return { parties, dealer };
}

/** The two phases of a run with its preprocessing first, from the clock and this process's CPU at the start, at the dealer's end and at the end. */
function phasesOf(t0: number, c0: NodeJS.CpuUsage, mid: { t: number; cpu: NodeJS.CpuUsage }, t1: number, c1: NodeJS.CpuUsage): RunPhases {
  const cpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number => (b.user - a.user + b.system - a.system) / 1e6;
  return { preprocessingSeconds: (mid.t - t0) / 1000, preprocessingCpuSeconds: cpu(c0, mid.cpu), onlineSeconds: (t1 - mid.t) / 1000, onlineCpuSeconds: cpu(mid.cpu, c1), onlineSystemSeconds: (c1.system - mid.cpu.system) / 1e6 };
}

/** Rejects when the dealer's thread fails (it never finishes on its own: the main thread ends it). */
function dealerFailure(w: Worker): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    w.on('message', (m: DealerWorkerReply) => m.type === 'error' && reject(errorFrom(m, 'the simulated dealer')));
    w.on('error', (e) => reject(e));
    w.on('exit', (code) => reject(new Error(`the simulated dealer's worker exited (code ${code}) before the parties finished`)));
  });
  p.catch(() => {});
  return p;
}

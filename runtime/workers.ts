// Two worker threads, one per party: both cores work at once (each party's local work between
// rounds runs in parallel), each worker holds only its own shares, and round messages go
// worker to worker through a MessagePort (transferred, not copied). Same outputs and counts
// as runCircuit.

import { MessageChannel, Worker } from 'node:worker_threads';
import { Ig3dcError, type ErrorKind, type SourcePlace } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { admitCircuit } from './admit.ts';
import { deriveSeeds } from './prg.ts';
import type { RunOptions, RunResult } from './interpreter.ts';
import { checkPartyInputs } from './party.ts';
import { dealerSendsP0 } from './dealer-stream.ts';
import type { WorkerInput, WorkerReply } from './party-worker.ts';
import type { MeasuredRound } from './transport.ts';
import { measuredRounds } from './measured-rounds.ts';
import { exchanges } from './plan.ts';
import { fromWire } from './wire-tensor.ts';
import { serveTensors } from './tensor-requests.ts';
import { workerBootCode } from './worker-source.ts';


function errorFrom(reply: Extract<WorkerReply, { type: 'error' }>, party: number): Error {
  if (reply.kind !== undefined) return new Ig3dcError(reply.kind as ErrorKind, reply.detail, (reply.place ?? {}) as SourcePlace);
  return new Error(`party ${party} worker: ${reply.detail}`);
}

/** Runs a circuit with each party in its own worker thread (captureShares is not supported here). */
export async function runCircuitWorkers(c: Circuit, opts: RunOptions): Promise<RunResult> {
  admitCircuit(c, undefined, opts.checkLeakage !== false);
  if (c.instructions.some((i) => i.op === 'shared_input' || i.op === 'handoff')) {
    throw new Ig3dcError('usage', `circuit '${c.name}' is a segment (it starts from or hands off shares): run it in process or over TCP, not in worker threads`);
  }
  checkPartyInputs(c, 0, opts.weights);
  checkPartyInputs(c, 1, opts.inputs);
  const s = schedule(c);
  // Each worker gets only its own role's seeds; P1's worker also simulates the dealer, which holds both dealer seeds.
  const seeds = opts.seeds ?? deriveSeeds(opts.seed);
  const { port1, port2 } = new MessageChannel();
  // The simulated dealer's channel to P0, for circuits whose dealer sends P0 words (FSS keys).
  const toP0 = dealerSendsP0(c) ? new MessageChannel() : undefined;
  const code = workerBootCode(new URL('./party-worker.ts', import.meta.url), import.meta.url);
  const served = ([0, 1] as const).map((party) => serveTensors(party === 0 ? opts.weights : opts.inputs));
  const workers = ([0, 1] as const).map((party) => {
    const data: WorkerInput = {
      circuit: c,
      party,
      tensors: served[party]!.requests,
      s01: seeds.s01,
      sd: party === 0 ? seeds.s0d : seeds.s1d,
      ...(party === 1 ? { simulatedDealer: { s0d: seeds.s0d, s1d: seeds.s1d } } : {}),
      peer: party === 0 ? port1 : port2,
      ...(toP0 !== undefined ? { dealerPort: party === 0 ? toP0.port1 : toP0.port2 } : {}),
      progress: opts.onRound !== undefined,
      transcript: opts.transcript !== false,
      fuse: opts.fuse !== false,
    };
    const transfer = data.dealerPort !== undefined ? [data.peer, data.tensors.port, data.dealerPort] : [data.peer, data.tensors.port];
    return new Worker(code, { eval: true, workerData: data, transferList: transfer });
  });
  try {
    const replies = await Promise.all(
      workers.map(
        (w, party) =>
          new Promise<Extract<WorkerReply, { type: 'done' }>>((resolve, reject) => {
            w.on('message', (m: WorkerReply) => {
              if (m.type === 'done') resolve(m);
              else if (m.type === 'error') reject(errorFrom(m, party));
              else opts.onRound?.(m.done, m.total, { kind: 'round', phase: m.phase, round: m.round, comms: [], parts: [] }, m.layer);
            });
            w.on('error', (e) => reject(e));
            w.on('exit', (code) => reject(new Error(`party ${party} worker exited (code ${code}) before finishing`)));
          }),
      ),
    );
    const [r0, r1] = replies as [Extract<WorkerReply, { type: 'done' }>, Extract<WorkerReply, { type: 'done' }>];
    if (r0.sentPerRound.length !== r1.sentPerRound.length) throw new Error('the parties disagree on the number of rounds');
    const byRound: MeasuredRound[] = measuredRounds(c, s, exchanges(c, s), [r0.sentPerRound, r1.sentPerRound]);
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
    const b0 = sum(r0.sentPerRound);
    const b1 = sum(r1.sentPerRound);
    return {
      outputs: fromWire(r1.outputs),
      serverOutputs: fromWire(r0.outputs),
      handoffs: [new Map(), new Map()],
      cost: {
        rounds: byRound.filter((r) => r.phase === 'online').length,
        preprocessingRounds: byRound.filter((r) => r.phase === 'pre').length,
        bytesPerParty: [b0, b1],
        bytesTotal: b0 + b1,
        dealerBytes: r0.dealerBytesPerParty[0] + r1.dealerBytesPerParty[1],
        dealerBytesPerParty: [r0.dealerBytesPerParty[0], r1.dealerBytesPerParty[1]],
        byRound,
      },
      transcriptHash: r1.transcript,
      shares: new Map(),
      ringMacs: r0.macs + r1.macs,
    };
  } finally {
    for (const sv of served) sv.close();
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// Worker-thread entry: one party of a two-worker run. It holds only its own shares and its
// own role's seeds, derives its own dealer material from its seed and exchanges round
// messages with the other worker through a MessagePort. Party 1's worker also simulates the
// dealer (given the two dealer seeds; the correction words it computes are counted as dealer
// bytes): a one-process simulation, unlike `ig3dc dealer` where no party holds them.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { Dealer } from './dealer.ts';
import { ringStats } from './kernels.ts';
import { driveParty, newTranscript } from './drive.ts';
import { partyProgram } from './party.ts';
import { planParty } from './plan.ts';
import { toWire, type WireTensor } from './wire-tensor.ts';
import { requestTensors, type TensorRequests } from './tensor-requests.ts';

export interface WorkerInput {
  readonly circuit: Circuit;
  readonly party: 0 | 1;
  /** Where to ask for this party's own tensors (runtime/tensor-requests.ts). */
  readonly tensors: TensorRequests;
  /** Seed shared with the other party. */
  readonly s01: Uint8Array;
  /** Seed shared with the dealer. */
  readonly sd: Uint8Array;
  /** Party 1's worker: the simulated dealer's two seeds. */
  readonly simulatedDealer?: { readonly s0d: Uint8Array; readonly s1d: Uint8Array };
  readonly peer: MessagePort;
  readonly progress: boolean;
  readonly transcript: boolean;
  readonly fuse: boolean;
}

export type WorkerReply =
  | { type: 'round'; done: number; total: number; phase: 'pre' | 'online'; round: number; layer?: number }
  | { type: 'done'; party: 0 | 1; outputs: [string, WireTensor][]; sentPerRound: number[]; dealerBytes: number; transcript: string; macs: number }
  | { type: 'error'; kind?: string; detail: string; place?: object };

async function main(): Promise<void> {
  const d = workerData as WorkerInput;
  const c = d.circuit;
  const dealer = d.simulatedDealer !== undefined ? new Dealer(d.simulatedDealer.s0d, d.simulatedDealer.s1d) : undefined;
  const transcript = d.party === 1 && d.transcript ? newTranscript() : undefined;
  const s = schedule(c);
  const plan = planParty(c, d.party, new Set(), s, { fuse: d.fuse });
  const total = plan.steps.filter((st) => st.kind === 'round').length;
  let done = 0;
  const program = partyProgram({
    circuit: c,
    party: d.party,
    plan,
    tensors: requestTensors(d.tensors),
    s01: d.s01,
    sd: d.sd,
    recycleMessages: true,
    ...(dealer !== undefined
      ? {
          correction: (ins, own) => {
            const w = dealer.correction(ins, c.registers, own);
            transcript?.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
            return w;
          },
        }
      : {}),
    ...(d.progress && d.party === 1
      ? {
          onRound: (_k, st) => {
            const layer = c.instructions[st.comms[0]!]?.prov.layer;
            const msg: WorkerReply = { type: 'round', done: ++done, total, phase: st.phase, round: st.round, ...(layer === undefined ? {} : { layer }) };
            parentPort!.postMessage(msg);
          },
        }
      : {}),
  });
  // Messages from the peer, in order; a round's receive waits for the next one.
  const queue: Uint8Array[] = [];
  let waiting: ((m: Uint8Array) => void) | undefined;
  d.peer.on('message', (m: Uint8Array) => {
    if (waiting !== undefined) {
      const w = waiting;
      waiting = undefined;
      w(m);
    } else queue.push(m);
  });
  const { result, stats } = await driveParty(
    program,
    {
      send: (msg) => d.peer.postMessage(msg, [msg.buffer as ArrayBuffer]),
      receive: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiting = r))),
    },
    { party: d.party, ...(transcript !== undefined ? { transcript } : {}) },
  );
  d.peer.close();
  const reply: WorkerReply = {
    type: 'done',
    party: d.party,
    outputs: toWire(result.outputs),
    sentPerRound: stats.sentPerRound,
    dealerBytes: dealer?.bytes ?? 0,
    transcript: transcript?.digest('hex') ?? '',
    macs: ringStats.macs,
  };
  parentPort!.postMessage(reply);
}

main().catch((e: unknown) => {
  const reply: WorkerReply =
    e instanceof Ig3dcError ? { type: 'error', kind: e.kind, detail: e.detail, place: e.place } : { type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  parentPort!.postMessage(reply);
});

// Worker-thread entry: one party of a two-worker run. It holds only its own shares and its
// own role's seeds, derives its own dealer material from its seed and exchanges round
// messages with the other worker through a MessagePort. Party 1's worker also simulates the
// dealer (given the two dealer seeds; the words it computes are counted as dealer bytes): a
// one-process simulation, unlike `ig3dc dealer`, where no party holds them. For circuits whose
// dealer sends P0 words too (FSS keys), the simulated dealer makes P0's words of each stretch
// of local work while P1 waits for the round before it (in P0's order, so one key generation
// serves both parties) and posts them to P0's worker over a port of their own: P0's worker
// still holds only P0's seeds and what the dealer sends P0, as in the deployment.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import type { Instruction } from '../ir/circuit/types.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { Dealer } from './dealer.ts';
import { correctionOrder, type CorrectionOrder } from './dealer-stream.ts';
import { ringStats } from './kernels.ts';
import { driveParty, newTranscript } from './drive.ts';
import { partyProgram } from './party.ts';
import { planParty } from './plan.ts';
import { recycle } from './pool.ts';
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
  /** Circuits whose dealer sends P0 words: P1's worker posts P0's words here, P0's worker reads them. */
  readonly dealerPort?: MessagePort;
  readonly progress: boolean;
  readonly transcript: boolean;
  readonly fuse: boolean;
}

export type WorkerReply =
  | { type: 'round'; done: number; total: number; phase: 'pre' | 'online'; round: number; layer?: number }
  | { type: 'done'; party: 0 | 1; outputs: [string, WireTensor][]; sentPerRound: number[]; dealerBytesPerParty: [number, number]; transcript: string; macs: number }
  | { type: 'error'; kind?: string; detail: string; place?: object };

/** Dealer words of one stretch of local work, from the simulated dealer to P0's worker. */
interface StretchWords {
  readonly stretch: number;
  readonly words: BigUint64Array[];
}

/** The items of `order` one stretch needs (0: before round 1; k: after round k). */
function stretchItems(order: CorrectionOrder, k: number): readonly { readonly ins: number; readonly words: number }[] {
  return order.items.slice(k === 0 ? 0 : order.neededBy[k - 1]!, order.neededBy[k] ?? order.items.length);
}

/** P0's end of the simulated dealer's port: each stretch's words arrive before P0 runs it, and are taken in P0's order. */
class P0Words {
  readonly #port: MessagePort;
  readonly #order: CorrectionOrder;
  readonly #arrived: StretchWords[] = [];
  #waiting: ((m: StretchWords) => void) | undefined;
  #queue: BigUint64Array[] = [];
  #taken = 0;
  bytes = 0;
  constructor(port: MessagePort, order: CorrectionOrder) {
    this.#port = port;
    this.#order = order;
    port.on('message', (m: StretchWords) => {
      if (this.#waiting !== undefined) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w(m);
      } else this.#arrived.push(m);
    });
  }
  async ready(k: number): Promise<void> {
    if (stretchItems(this.#order, k).length === 0) return;
    const m = this.#arrived.shift() ?? (await new Promise<StretchWords>((r) => (this.#waiting = r)));
    if (m.stretch !== k || this.#queue.length !== 0) throw new Error(`P0's dealer words for stretch ${m.stretch} came where stretch ${k} was due`);
    this.#queue = m.words;
  }
  take(c: Circuit, ins: Instruction): BigUint64Array {
    const item = this.#order.items[this.#taken];
    const w = this.#queue.shift();
    if (item === undefined || c.instructions[item.ins] !== ins || w === undefined || w.length !== item.words) {
      throw new Error(`the dealer's words for a ${ins.op} are not here: P0's plan and the simulated dealer's order disagree`);
    }
    this.#taken++;
    this.bytes += w.byteLength;
    return w;
  }
  get complete(): boolean {
    return this.#taken === this.#order.items.length;
  }
  close(): void {
    this.#port.close();
  }
}

async function main(): Promise<void> {
  const d = workerData as WorkerInput;
  const c = d.circuit;
  const dealer = d.simulatedDealer !== undefined ? new Dealer(d.simulatedDealer.s0d, d.simulatedDealer.s1d) : undefined;
  const transcript = d.party === 1 && d.transcript ? newTranscript() : undefined;
  const s = schedule(c);
  const plan = planParty(c, d.party, new Set(), s, { fuse: d.fuse });
  const total = plan.steps.filter((st) => st.kind === 'round').length;
  let done = 0;
  // Dealer words to [P0, P1], counted where they arrive (P0's worker) or are made for P1.
  const received: [number, number] = [0, 0];
  // P0's words: made by P1's simulated dealer (in P0's order, from P0's plan), read by P0's worker.
  const p0Order = d.dealerPort !== undefined ? correctionOrder(c, d.party === 0 ? plan : planParty(c, 0, new Set(), s, { fuse: d.fuse }), 0) : undefined;
  const p0Words = d.party === 0 && d.dealerPort !== undefined ? new P0Words(d.dealerPort, p0Order!) : undefined;
  const sendP0Words =
    d.party === 1 && d.dealerPort !== undefined
      ? (k: number): void => {
          const words: BigUint64Array[] = [];
          for (const item of stretchItems(p0Order!, k)) {
            const w = dealer!.material(c.instructions[item.ins]!, c.registers, 0);
            if (w === undefined) throw new Error(`dealer: '${c.instructions[item.ins]!.op}' sends P0 nothing`);
            words.push(w.slice()); // compact, so the transfer moves exactly these words
            recycle(w);
          }
          if (words.length > 0) d.dealerPort!.postMessage({ stretch: k, words } satisfies StretchWords, words.map((w) => w.buffer as ArrayBuffer));
        }
      : undefined;
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
            received[1] += w.byteLength;
            transcript?.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
            return w;
          },
        }
      : p0Words !== undefined
        ? { correction: (ins) => p0Words.take(c, ins) }
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
      send: (msg, round) => {
        d.peer.postMessage(msg, [msg.buffer as ArrayBuffer]);
        // P1 waits for P0's message of this round now: the simulated dealer uses the wait to make
        // P0's words of the next stretch (and, with them, P1's halves of the same keys).
        sendP0Words?.(round);
      },
      receive: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((r) => (waiting = r))),
    },
    {
      party: d.party,
      ...(transcript !== undefined ? { transcript } : {}),
      ...(sendP0Words !== undefined ? { beforeStretch: async (k: number) => void (k === 0 && sendP0Words(0)) } : {}),
      ...(p0Words !== undefined ? { beforeStretch: (k: number) => p0Words.ready(k) } : {}),
    },
  );
  d.peer.close();
  if (p0Words !== undefined) {
    if (!p0Words.complete) throw new Error('the run ended before every dealer word to P0 was used');
    received[0] = p0Words.bytes;
    p0Words.close();
  }
  d.dealerPort?.close();
  const reply: WorkerReply = {
    type: 'done',
    party: d.party,
    outputs: toWire(result.outputs),
    sentPerRound: stats.sentPerRound,
    dealerBytesPerParty: received,
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

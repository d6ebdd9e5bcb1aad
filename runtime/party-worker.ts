// Worker-thread entry: one party of a worker-mode run. It holds only its own shares and its
// own role's seeds, derives its own dealer material from its seed, exchanges round messages
// with the other party's worker through a MessagePort and takes the words the dealer sends it
// from the simulated dealer's worker thread (dealer-worker.ts) over a port of their own, as in
// the deployment: P1's corrections and keys, and P0's keys for circuits whose dealer sends P0
// words (FSS). Those words are counted as dealer bytes where they arrive.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Ig3dcError } from '../ir/diagnostics.ts';
import type { Circuit } from '../ir/circuit/circuit.ts';
import type { Instruction } from '../ir/circuit/types.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { correctionOrder } from './dealer-stream.ts';
import { StretchWordsFeed, type StretchWords, type WordsTaken } from './dealer-words.ts';
import { ringStats } from './kernels.ts';
import { driveParty, newTranscript } from './drive.ts';
import { partyProgram, type Shares } from './party.ts';
import { segmentSeed, sharesFor } from './segments.ts';
import { planParty } from './plan.ts';
import { toWire, type WireTensor } from './wire-tensor.ts';
import { emulatedLink, type LinkModel } from './link-model.ts';
import type { PeerLink } from './drive.ts';
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
  readonly peer: MessagePort;
  /** From the simulated dealer's thread: the words the dealer sends this party (P0: only where it may send P0 words, FSS keys). */
  readonly dealerPort?: MessagePort;
  readonly progress: boolean;
  readonly transcript: boolean;
  readonly fuse: boolean;
  /**
   * A model in segments: after each circuit the worker keeps its handed-off shares and waits for
   * the next segment's circuit (a SegmentMessage from the main thread), which it starts from
   * those shares cut to the bucket; segment k's seeds derive from these seeds and k.
   */
  readonly segmented?: boolean;
  /** Wait for the main thread's `{ type: 'start' }` before running (the dealer's phase first). */
  readonly awaitStart?: boolean;
  /** Deliver the peer's messages as this network would (link-model.ts). */
  readonly link?: LinkModel;
}

const withLink = (link: PeerLink, model: LinkModel | undefined): PeerLink => (model === undefined ? link : emulatedLink(link, model));

/** From the main thread to a segmented worker: the next segment, or the end of the run. */
export type SegmentMessage = { type: 'next'; circuit: Circuit; tensors: TensorRequests } | { type: 'stop' };

export type WorkerReply =
  | { type: 'round'; done: number; total: number; phase: 'pre' | 'online'; round: number; layer?: number }
  | { type: 'done'; party: 0 | 1; outputs: [string, WireTensor][]; sentPerRound: number[]; dealerBytesPerParty: [number, number]; transcript: string; macs: number }
  | { type: 'error'; kind?: string; detail: string; place?: object };

/** A port's messages in order: each call takes the next one (waiting for it). */
function inbox<T>(port: MessagePort | NonNullable<typeof parentPort>): () => Promise<T> {
  const queue: T[] = [];
  let waiting: ((m: T) => void) | undefined;
  port.on('message', (m: T) => {
    if (waiting !== undefined) {
      const w = waiting;
      waiting = undefined;
      w(m);
    } else queue.push(m);
  });
  return () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<T>((r) => (waiting = r)));
}

interface Ports {
  readonly peer: () => Promise<Uint8Array>;
  readonly dealer?: () => Promise<StretchWords>;
}

interface Seeds {
  readonly s01: Uint8Array;
  readonly sd: Uint8Array;
}

/** Runs one circuit (a whole model, or one segment) and posts its reply; returns this party's handoffs. */
async function runOne(d: WorkerInput, c: Circuit, segment: number, tensors: TensorRequests, seeds: Seeds, ports: Ports, shared: ReadonlyMap<string, Shares> | undefined): Promise<Map<string, Shares>> {
  const transcript = d.party === 1 && d.transcript ? newTranscript() : undefined;
  const s = schedule(c);
  const plan = planParty(c, d.party, new Set(), s, { fuse: d.fuse });
  const total = plan.steps.filter((st) => st.kind === 'round').length;
  let done = 0;
  // Dealer words to [P0, P1], counted where they arrive: this party's, from the dealer's thread, in this party's order.
  const received: [number, number] = [0, 0];
  const words = ports.dealer !== undefined ? new StretchWordsFeed(ports.dealer, (m) => d.dealerPort!.postMessage(m satisfies WordsTaken, m.returned !== undefined ? [m.returned] : []), c, correctionOrder(c, plan, d.party), segment) : undefined;
  const program = partyProgram({
    circuit: c,
    party: d.party,
    plan,
    tensors: requestTensors(tensors),
    s01: seeds.s01,
    sd: seeds.sd,
    ...(shared !== undefined ? { shared } : {}),
    recycleMessages: true,
    ...(words !== undefined
      ? {
          correction: (ins) => {
            const w = words.take(ins);
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
  const { result, stats } = await driveParty(
    program,
    withLink(
      {
        send: (msg) => d.peer.postMessage(msg, [msg.buffer as ArrayBuffer]),
        receive: () => ports.peer(),
      },
      d.link,
    ),
    {
      party: d.party,
      ...(transcript !== undefined ? { transcript } : {}),
      ...(words !== undefined ? { beforeStretch: (k: number) => words.ready(k) } : {}),
    },
  );
  if (words !== undefined) {
    if (!words.complete) throw new Error(`the run ended before every dealer word to party ${d.party} was used`);
    received[d.party] = words.bytes;
  }
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
  return result.handoffs;
}

async function main(): Promise<void> {
  const d = workerData as WorkerInput;
  // Messages from the peer and from the dealer, in order, across every segment.
  const ports: Ports = { peer: inbox<Uint8Array>(d.peer), ...(d.dealerPort !== undefined ? { dealer: inbox<StretchWords>(d.dealerPort) } : {}) };
  const seedsOf = (k: number): Seeds => {
    if (d.segmented !== true) return { s01: d.s01, sd: d.sd };
    return { s01: segmentSeed(d.s01, k), sd: segmentSeed(d.sd, k) };
  };
  const next = d.segmented === true ? inbox<SegmentMessage>(parentPort!) : undefined;
  if (d.awaitStart === true) await new Promise<void>((resolve) => parentPort!.once('message', (m: { type: string }) => m.type === 'start' && resolve()));
  let c = d.circuit;
  let tensors = d.tensors;
  let shared: Map<string, Shares> | undefined;
  for (let k = 0; ; k++) {
    // this party's shares stay here: the next segment starts from them, cut to its bucket
    const handoffs = await runOne(d, c, k, tensors, seedsOf(k), ports, shared);
    if (next === undefined) break;
    const m = await next();
    if (m.type === 'stop') break;
    c = m.circuit;
    tensors = m.tensors;
    shared = sharesFor(c, handoffs);
  }
  d.peer.close();
  d.dealerPort?.close();
}

main().catch((e: unknown) => {
  const reply: WorkerReply =
    e instanceof Ig3dcError ? { type: 'error', kind: e.kind, detail: e.detail, place: e.place } : { type: 'error', detail: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  parentPort!.postMessage(reply);
});

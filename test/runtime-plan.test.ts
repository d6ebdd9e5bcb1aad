import { describe, expect, it } from 'vitest';
import { Tensor } from '../ir/tensor.ts';
import { CircuitBuilder, beaverMatmul, beaverSquare, circuitCost, costSummary, type Circuit } from '../ir/circuit/index.ts';
import { schedule } from '../ir/circuit/schedule.ts';
import { exchanges, planParty } from '../runtime/plan.ts';
import { runCircuit, runCircuitWorkers } from '../runtime/index.ts';

const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

/** Three linear layers with a square between them: three weight masks, each needed one online round later than the one before. */
function threeLayers(): Circuit {
  const b = new CircuitBuilder({ name: 'three-layers' });
  let x = b.input('x', 1, [2, 4]);
  for (const name of ['w1', 'w2', 'w3']) {
    x = beaverMatmul(b, x, b.input(name, 0, [4, 4]));
    if (name !== 'w3') x = beaverSquare(b, x);
  }
  b.output(x, 'y');
  return b.build();
}
const inputs = new Map([['x', t64([2, 4], [0.5, -0.25, 0.75, 0.1, -0.6, 0.3, 0.2, -0.4])]]);
const weights = new Map(['w1', 'w2', 'w3'].map((n, j) => [n, t64([4, 4], Array.from({ length: 16 }, (_, i) => Math.cos(i * 0.7 + j) * 0.5))]));

describe('preprocessing opens stream with the online rounds', () => {
  const c = threeLayers();
  const s = schedule(c);
  const weightOf = (i: number): string | undefined => {
    // The weight whose mask an open reveals: the open's input is sub(W, B), W an input.
    const d = c.instructions.find((x) => x.outputs.includes(c.instructions[i]!.inputs[0]!))!;
    const w = c.instructions.find((x) => x.outputs.includes(d.inputs[0]!))!;
    return w.op === 'input' ? (w.attrs['name'] as string) : undefined;
  };

  it('each weight mask travels with the round that opens its layer input, not all in one preprocessing round', () => {
    expect(s.preprocessingRounds).toBe(1);
    expect(s.roundsOf.pre[0]!.length).toBe(3);
    const ex = exchanges(c, s);
    // No exchange is left for the preprocessing round: all three opens moved.
    expect(ex.filter((e) => e.phase === 'pre')).toEqual([]);
    const carriers = ex.filter((e) => e.parts.some((p) => p.phase === 'pre'));
    expect(carriers.map((e) => e.parts.filter((p) => p.phase === 'pre').flatMap((p) => p.comms.map(weightOf)))).toEqual([['w1'], ['w2'], ['w3']]);
    // Strictly later rounds, and each with the open of its own layer's input (x - A, an online comm of the same exchange).
    const rounds = carriers.map((e) => e.round);
    expect(rounds).toEqual([...rounds].sort((a, b) => a - b));
    expect(new Set(rounds).size).toBe(3);
    for (const e of carriers) expect(e.parts[0]!.phase).toBe('online');
  });

  it("a weight is shared only after the previous layer's mask was opened (both parties' plans)", () => {
    for (const p of [0, 1] as const) {
      const plan = planParty(c, p, new Set(), s);
      const at = (pred: (k: number) => boolean): number => plan.steps.findIndex((_, k) => pred(k));
      const inputStep = (name: string): number =>
        at((k) => {
          const st = plan.steps[k]!;
          return st.kind === 'local' && c.instructions[st.ins]!.op === 'input' && c.instructions[st.ins]!.attrs['name'] === name;
        });
      const carrierStep = (name: string): number =>
        at((k) => {
          const st = plan.steps[k]!;
          return st.kind === 'round' && st.parts.some((pt) => pt.phase === 'pre' && pt.comms.some((i) => weightOf(i) === name));
        });
      expect(inputStep('w2')).toBeGreaterThan(carrierStep('w1'));
      expect(inputStep('w3')).toBeGreaterThan(carrierStep('w2'));
    }
  });

  it('measured bytes per round of the schedule equal the static ones, in process and in workers', async () => {
    const seed = new Uint8Array(16).fill(3);
    const a = runCircuit(c, { inputs, weights, seed });
    const { byRound, ...measured } = a.cost;
    const stat = circuitCost(c);
    expect(measured).toEqual(costSummary(stat));
    expect(byRound).toEqual(stat.byRound.map((r) => ({ phase: r.phase, round: r.round, bytesP0: r.bytesP0, bytesP1: r.bytesP1 })));
    const w = await runCircuitWorkers(c, { inputs, weights, seed });
    expect(w.cost).toEqual(a.cost);
    expect(w.transcriptHash).toBe(a.transcriptHash);
    expect(w.outputs.get('y')!.toNumbers()).toEqual(a.outputs.get('y')!.toNumbers());
  }, 60_000);

  it("a worker asks for each weight once, when its layer comes, instead of holding a copy of all of them", async () => {
    const asked: string[] = [];
    class Logged extends Map<string, Tensor> {
      override get(k: string): Tensor | undefined {
        asked.push(k);
        return super.get(k);
      }
    }
    const seed = new Uint8Array(16).fill(3);
    const logged = new Logged(weights);
    const w = await runCircuitWorkers(c, { inputs, weights: logged, seed });
    // The first three are the input checks before the workers start.
    expect(asked).toEqual(['w1', 'w2', 'w3', 'w1', 'w2', 'w3']);
    expect(w.outputs.get('y')!.toNumbers()).toEqual(runCircuit(c, { inputs, weights, seed }).outputs.get('y')!.toNumbers());
  }, 60_000);
});

import { describe, expect, it } from 'vitest';
import { Ig3dcError } from '../ir/diagnostics.ts';
import { Tensor } from '../ir/tensor.ts';
import { CircuitBuilder, circuitCost, costSummary, decodeCircuit, encodeCircuit } from '../ir/circuit/index.ts';
import { runCircuit, runCircuitWorkers, type RunResult } from '../runtime/index.ts';
import { smallCircuit, smallInputs, smallWeights } from './deploy-helpers.ts';

const t64 = (shape: number[], xs: readonly number[]): Tensor => Tensor.from('f64', shape, xs);

const circuit = smallCircuit;
const inputs = smallInputs;
const weights = smallWeights;
const seed = new Uint8Array(16).fill(7);

function expectSameRun(a: RunResult, b: { outputs: Map<string, Tensor>; cost: RunResult['cost']; transcriptHash: string }): void {
  expect([...b.outputs.keys()].sort()).toEqual([...a.outputs.keys()].sort());
  for (const [k, t] of a.outputs) expect(b.outputs.get(k)!.toNumbers()).toEqual(t.toNumbers());
  expect(b.cost).toEqual(a.cost);
  expect(b.transcriptHash).toBe(a.transcriptHash);
}

describe('two worker threads', () => {
  it('give the same outputs, counts and transcript as the in-process run', async () => {
    const c = circuit();
    const a = runCircuit(c, { inputs, weights, seed });
    const { byRound, ...measured } = a.cost;
    expect(measured).toEqual(costSummary(circuitCost(c)));
    expect(byRound.length).toBe(a.cost.rounds + a.cost.preprocessingRounds);
    const w = await runCircuitWorkers(c, { inputs, weights, seed });
    expectSameRun(a, w);
  }, 60_000);

  it('report a bad input before starting, as an Ig3dcError', async () => {
    await expect(runCircuitWorkers(circuit(), { inputs: new Map([['x', t64([4, 3], new Array(12).fill(0))]]), weights, seed })).rejects.toThrow(
      /'x' has shape \[4,3\], the circuit expects \[3,4\]/,
    );
  });
});

describe('inputs that do not fit the circuit', () => {
  const c = circuit();
  const err = (opts: { inputs?: Map<string, Tensor>; weights?: Map<string, Tensor> }): Ig3dcError => {
    try {
      runCircuit(c, { inputs: opts.inputs ?? inputs, weights: opts.weights ?? weights });
    } catch (e) {
      if (e instanceof Ig3dcError) return e;
      throw e;
    }
    throw new Error('no error');
  };
  it('wrong shape, missing weight, non-finite value, wrong type for an integer input', () => {
    expect(err({ inputs: new Map([['x', t64([12], new Array(12).fill(0))]]) }).message).toMatch(/'x' has shape \[12\], the circuit expects \[3,4\]/);
    expect(err({ weights: new Map() }).message).toMatch(/missing weight 'w'/);
    expect(err({ inputs: new Map([['x', t64([3, 4], [Infinity, ...new Array(11).fill(0)])]]) }).kind).toBe('input');
    const b = new CircuitBuilder();
    b.output(b.input('ids', 1, [2], { encoding: 'onehot', classes: 3 }), 'o');
    const oc = b.build();
    const e = (() => {
      try {
        runCircuit(oc, { inputs: new Map([['ids', t64([2], [1.5, 0])]]), weights: new Map() });
      } catch (x) {
        return x as Ig3dcError;
      }
      throw new Error('no error');
    })();
    expect(e).toBeInstanceOf(Ig3dcError);
    expect(e.message).toMatch(/element 0 is 1.5, outside 0..2/);
  });
});

describe('circuit files', () => {
  it('a corrupt or truncated file, or one of another version, is a clear Ig3dcError', () => {
    const bytes = encodeCircuit(circuit());
    const flip = Uint8Array.from(bytes);
    flip[bytes.length - 3]! ^= 0xff;
    expect(() => decodeCircuit(flip, 'c.circuit')).toThrow(/c.circuit: corrupt circuit file/);
    expect(() => decodeCircuit(bytes.subarray(0, bytes.length - 8), 'c.circuit')).toThrow(/truncated|corrupt/);
    const v2 = Uint8Array.from(bytes);
    new DataView(v2.buffer).setUint32(8, 99, true);
    expect(() => decodeCircuit(v2, 'c.circuit')).toThrow(/version 99 is not supported/);
    expect(() => decodeCircuit(new Uint8Array(40), 'c.circuit')).toThrow(/not a circuit file/);
  });
});

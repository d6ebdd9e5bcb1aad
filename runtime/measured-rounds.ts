// Measured bytes per round of the schedule from the bytes of each exchange. An exchange can
// carry preprocessing opens beside its own round's (plan.ts, exchanges): each part is
// credited to its own round, so the report keeps the schedule's rounds and phases. The
// exchange's measured size must be the sum of its parts' (a message is checked against it
// when it arrives), so the split is exact.

import type { Circuit } from '../ir/circuit/circuit.ts';
import type { Schedule } from '../ir/circuit/schedule.ts';
import { roundWords } from './party.ts';
import type { Exchange } from './plan.ts';
import type { MeasuredRound } from './transport.ts';

/** Per round of the schedule (preprocessing first), the bytes each party sent; `sent[p][k]` is what party p sent in exchange k. */
export function measuredRounds(c: Circuit, s: Schedule, exchanges: readonly Exchange[], sent: readonly [readonly number[], readonly number[]]): MeasuredRound[] {
  if (sent[0].length !== exchanges.length || sent[1].length !== exchanges.length) {
    throw new Error(`the parties made ${sent[0].length} and ${sent[1].length} exchanges, the plan has ${exchanges.length}`);
  }
  const pre = Array.from({ length: s.preprocessingRounds }, () => [0, 0]);
  const online = Array.from({ length: s.rounds }, () => [0, 0]);
  exchanges.forEach((ex, k) => {
    for (const p of [0, 1] as const) {
      let total = 0;
      for (const part of ex.parts) {
        const b = 8 * roundWords(c, part.comms, p);
        (part.phase === 'pre' ? pre : online)[part.round - 1]![p] += b;
        total += b;
      }
      if (total !== sent[p][k]) throw new Error(`party ${p} sent ${sent[p][k]} bytes in exchange ${k + 1}, its rounds hold ${total}`);
    }
  });
  return [
    ...pre.map(([b0, b1], i) => ({ phase: 'pre' as const, round: i + 1, bytesP0: b0!, bytesP1: b1! })),
    ...online.map(([b0, b1], i) => ({ phase: 'online' as const, round: i + 1, bytesP0: b0!, bytesP1: b1! })),
  ];
}

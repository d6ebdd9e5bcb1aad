// Estimated latency under named network profiles, from the static cost:
//
//   latency = online rounds x RTT + (online bytes sent by the party that sends more) / bandwidth
//
// In each round both parties send at once (one merged message per direction), so the time on
// the link is set by the larger sender; preprocessing (once per model) is estimated apart
// with the same formula over its own rounds and bytes.

import type { CircuitCost } from '../../../ir/circuit/cost.ts';

export interface NetworkProfile {
  readonly name: string;
  /** Bytes per second, one direction. */
  readonly bandwidth: number;
  /** Round-trip time in seconds. */
  readonly rtt: number;
  readonly description: string;
}

export const PROFILES: readonly NetworkProfile[] = [
  { name: 'lan', bandwidth: 10e9 / 8, rtt: 0.2e-3, description: '10 Gbps, 0.2 ms RTT (the IG-3D setup)' },
  { name: 'wan', bandwidth: 44e6, rtt: 40e-3, description: '44 MB/s, 40 ms RTT (as in MPCViT)' },
];

/** A network for the runtime's emulated link (runtime/link-model.ts): a profile's name (lan, wan) or `<MB/s>,<RTT ms>`; undefined when the spec is neither. */
export function networkOf(spec: string): Omit<NetworkProfile, 'name'> | undefined {
  const named = PROFILES.find((p) => p.name === spec);
  if (named !== undefined) return named;
  const m = /^(\d+(?:\.\d+)?),(\d+(?:\.\d+)?)$/.exec(spec);
  if (m === null || Number(m[1]) <= 0) return undefined;
  return { bandwidth: Number(m[1]) * 1e6, rtt: Number(m[2]) / 1000, description: `${m[1]} MB/s, ${m[2]} ms RTT` };
}

/** What networkOf accepts, for error messages. */
export const NETWORK_SPEC = `${PROFILES.map((p) => p.name).join(', ')} or <MB/s>,<RTT ms> (e.g. 44,40)`;

export const LATENCY_FORMULA = 'latency = online rounds x RTT + max(online bytes P0 sends, online bytes P1 sends) / bandwidth';

/** Bytes each party sends in one phase: [P0, P1]. */
export function phaseBytes(cost: CircuitCost, phase: 'pre' | 'online'): [number, number] {
  let p0 = 0;
  let p1 = 0;
  for (const r of cost.byRound) {
    if (r.phase !== phase) continue;
    p0 += r.bytesP0;
    p1 += r.bytesP1;
  }
  return [p0, p1];
}

export interface LatencyEstimate {
  readonly profile: string;
  readonly seconds: number;
  readonly roundSeconds: number;
  readonly transferSeconds: number;
  /** The bytes of the larger sender, used in the formula. */
  readonly bytes: number;
  readonly rounds: number;
}

export function estimateLatency(cost: CircuitCost, profile: NetworkProfile, phase: 'pre' | 'online' = 'online'): LatencyEstimate {
  const rounds = phase === 'online' ? cost.rounds : cost.preprocessingRounds;
  const [p0, p1] = phaseBytes(cost, phase);
  const bytes = Math.max(p0, p1);
  const roundSeconds = rounds * profile.rtt;
  const transferSeconds = bytes / profile.bandwidth;
  return { profile: profile.name, seconds: roundSeconds + transferSeconds, roundSeconds, transferSeconds, bytes, rounds };
}

export const DEALER_LATENCY_FORMULA = 'dealer keys = RTT + max(dealer bytes to P0, dealer bytes to P1) / bandwidth (each party on its own link, before the input exists)';

/** Time to ship the dealer's material (preprocessing: independent of the input). */
export function estimateDealerLatency(cost: CircuitCost, profile: NetworkProfile): LatencyEstimate {
  const bytes = Math.max(cost.dealerBytesPerParty[0], cost.dealerBytesPerParty[1]);
  const transferSeconds = bytes / profile.bandwidth;
  const roundSeconds = bytes > 0 ? profile.rtt : 0;
  return { profile: profile.name, seconds: roundSeconds + transferSeconds, roundSeconds, transferSeconds, bytes, rounds: bytes > 0 ? 1 : 0 };
}

export function findProfile(name: string): NetworkProfile | undefined {
  return PROFILES.find((p) => p.name === name);
}

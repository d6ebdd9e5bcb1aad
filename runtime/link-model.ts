// An emulated network between the two parties' threads (worker mode): each round's message is
// handed to the peer no earlier than a real link would deliver it. The sender's side of the link
// is busy for bytes / bandwidth per message, one after the other, and a message arrives half an
// RTT after its last byte left. The work is real and the clock is real: only the delivery waits.
// So the wall time of a run over the emulated link is what the same threads would take on that
// network, compute and communication together (the static report's latency counts only the
// network). The dealer's words are not delayed: run with the preprocessing first
// (RunOptions.preprocessFirst) and the online phase is the part that crosses this link.

import type { PeerLink } from './drive.ts';

export interface LinkModel {
  /** Bytes per second, each direction. */
  readonly bandwidth: number;
  /** Round-trip time, seconds. */
  readonly rtt: number;
}

/** Milliseconds on a clock every thread of the process shares. */
const now = (): number => performance.timeOrigin + performance.now();

/**
 * `link` with its deliveries held back as `model` would: before each message, the sender sends
 * an 8-byte stamp (its arrival time on the shared clock); the receiver reads the stamp, then the
 * message, and waits until the arrival time. The stamps are the emulation's, not the run's:
 * the bytes counted are the messages'.
 */
export function emulatedLink(link: PeerLink, model: LinkModel): PeerLink {
  let lineFree = 0;
  return {
    async send(msg, round) {
      const start = Math.max(now(), lineFree);
      lineFree = start + (1000 * msg.byteLength) / model.bandwidth;
      const stamp = new Float64Array([lineFree + (1000 * model.rtt) / 2]);
      await link.send(new Uint8Array(stamp.buffer), round);
      await link.send(msg, round);
    },
    async receive(round) {
      const stamp = new Float64Array((await link.receive(round)).slice().buffer)[0]!;
      const msg = await link.receive(round);
      const wait = stamp - now();
      if (wait > 2) await new Promise((r) => setTimeout(r, wait - 1));
      // The last millisecond spinning: timers are too coarse for a LAN's tenth of a millisecond.
      while (now() < stamp);
      return msg;
    },
  };
}

// What the search reports while it runs. The CLI shows it as a progress bar on stderr (only on
// a terminal); tests and library callers pass nothing.

import cliProgress from 'cli-progress';

export interface TuneProgress {
  /** A new task of `total` steps: costing a stage's moves, or measuring a variant's rows. */
  begin(task: string, total: number): void;
  update(done: number, detail?: string): void;
  stop(): void;
}

export const SILENT: TuneProgress = { begin: () => {}, update: () => {}, stop: () => {} };

export function progressBar(stream: NodeJS.WriteStream = process.stderr): TuneProgress {
  const bar = new cliProgress.SingleBar(
    { format: 'tune {task} |{bar}| {value}/{total} {detail}', stream, hideCursor: true, clearOnComplete: true, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    begin(task, total) {
      if (!started) {
        bar.start(total, 0, { task, detail: '' });
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(0, { task, detail: '' });
      }
    },
    update(done, detail = '') {
      if (started) bar.update(done, { detail });
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}

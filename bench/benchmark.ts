// What bench/run.ts needs to know about a benchmark: its name, its cases, how to run some.

export interface Benchmark {
  readonly name: string;
  /** One line on what it measures. */
  readonly summary: string;
  readonly cases: readonly string[];
  /** Runs the given cases (a subset of `cases`, in that order) and prints its own report. */
  run(cases: readonly string[]): Promise<void>;
}

// Closed-loop load: `concurrency` workers each send a request, wait for the whole answer, check
// it and send the next, for a warm-up and then a measured window. Only answers that complete
// inside the window count; every answer is checked, and failures are counted, never averaged in.
import { counterSum } from "./counters.ts";
import { cpuDelta, cpuSnapshot } from "./procstat.ts";
import { addServerTiming, stageMeans, summarizeLatencies } from "./stats.ts";
import type { BenchRequest, BenchResponse, Transport } from "./transport.ts";

export type Check = (res: BenchResponse) => string | null;

/** Examples kept per failure kind: enough to diagnose, bounded for the JSON. */
const MAX_EXAMPLES = 3;

export async function runClosedLoop(options: {
  transport: Transport;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  next: () => BenchRequest;
  check: Check;
  note?: Check;
  expectStatus?: number;
  server?: { pgid: number; proxyPort: number };
  signal?: AbortSignal;
}) {
  const { transport, concurrency, warmupMs, durationMs, next, check } = options;
  const expectStatus = options.expectStatus ?? 200;
  const started = performance.now();
  const windowStart = started + warmupMs;
  const windowEnd = windowStart + durationMs;
  const latencies: number[] = [];
  const timings: Map<string, { sum: number; count: number }> = new Map();
  const failures: Map<string, { count: number; examples: string[] }> = new Map();
  /** observations that are not failures ("no results") */
  const notes: Map<string, number> = new Map();
  const cost = counterSum();
  let errors = 0;
  let mismatches = 0;
  let completedInWindow = 0;
  let bytes = 0;
  // CPU is sampled on timers at the window's edges, so it covers the same span as the counts.
  let cpuStart: ReturnType<typeof cpuSnapshot> = null;
  let cpuEnd: ReturnType<typeof cpuSnapshot> = null;
  const startTimer = setTimeout(() => {
    cpuStart = cpuSnapshot(options.server);
  }, warmupMs);
  const endTimer = setTimeout(() => {
    cpuEnd = cpuSnapshot(options.server);
  }, warmupMs + durationMs);

  const fail = (kind: string, example: string) => {
    const entry = failures.get(kind);
    if (!entry) failures.set(kind, { count: 1, examples: [example] });
    else {
      entry.count++;
      if (entry.examples.length < MAX_EXAMPLES) entry.examples.push(example);
    }
  };

  const worker = async () => {
    for (;;) {
      const now = performance.now();
      if (now >= windowEnd || options.signal?.aborted) return;
      const req = next();
      const t0 = performance.now();
      let res: BenchResponse | undefined;
      let error: string | undefined;
      try {
        res = await transport.send(req);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      const t1 = performance.now();
      const inWindow = t1 >= windowStart && t1 < windowEnd;
      if (!inWindow) continue;
      if (res === undefined) {
        errors++;
        fail("error", error ?? "unknown error");
        continue;
      }
      if (res.status !== expectStatus) {
        errors++;
        fail(`status ${res.status}`, res.body.slice(0, 200));
        continue;
      }
      const mismatch = check(res);
      if (mismatch !== null) {
        mismatches++;
        fail(mismatch, `x-cache=${res.xCache ?? "(none)"} ${res.body.slice(0, 160)}`);
        continue;
      }
      const note = options.note?.(res) ?? null;
      if (note !== null) notes.set(note, (notes.get(note) ?? 0) + 1);
      completedInWindow++;
      bytes += res.body.length;
      latencies.push(t1 - t0);
      addServerTiming(res.serverTiming, timings);
      cost.add(res.costCounters);
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  // At low concurrency the last answer can land before the end timer gets its turn.
  if (cpuEnd === null && cpuStart !== null) cpuEnd = cpuSnapshot(options.server);
  // Workers stop sending at windowEnd but wait for their answers: the window is the planned one.
  const seconds = durationMs / 1000;
  const total = completedInWindow + errors + mismatches;
  return {
    concurrency,
    windowSeconds: seconds,
    ok: completedInWindow,
    errors,
    mismatches,
    failures: Object.fromEntries(failures),
    notes: Object.fromEntries(notes),
    /** Checked, successful answers per second: failures do not count as throughput. */
    throughput: completedInWindow / seconds,
    attemptedPerSecond: total / seconds,
    meanResponseBytes: completedInWindow > 0 ? bytes / completedInWindow : NaN,
    latencyMs: summarizeLatencies(latencies),
    serverTiming: stageMeans(timings),
    /** Cost counters summed over the checked answers that carried them (null: none did). */
    counters: cost.result(),
    cpu: cpuDelta(cpuStart, cpuEnd, total),
  };
}

export type LoadResult = Awaited<ReturnType<typeof runClosedLoop>>;

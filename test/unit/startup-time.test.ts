// The startup check: active CPU read from wrangler's startup profile, refused over the project's
// budget or the platform's 1 s limit.
import { describe, expect, it } from "vitest";
import { STARTUP_LIMIT_MS } from "../../scripts/lib/bundle-size.ts";
import {
  type CpuProfile,
  judgeStartup,
  STARTUP_BUDGET_MS,
  startupCpu,
} from "../../scripts/lib/startup-time.ts";

const node = (id: number, functionName: string) => ({ id, callFrame: { functionName } });
/** A profile of the given samples, each `[function, microseconds since the previous sample]`. */
function profile(samples: [string, number][]): CpuProfile {
  const names = [...new Set(samples.map(([name]) => name))];
  return {
    nodes: names.map((name, i) => node(i + 1, name)),
    samples: samples.map(([name]) => names.indexOf(name) + 1),
    timeDeltas: samples.map(([, us]) => us),
  };
}

describe("startup check", () => {
  it("counts active and garbage-collection time, not idle time, as wrangler's Active line does", () => {
    const cpu = startupCpu(
      profile([
        ["(idle)", 80_000],
        ["createApp", 30_000],
        ["(garbage collector)", 12_500],
        ["", 1_000],
        ["(idle)", 20_000],
      ]),
    );
    expect(cpu).toEqual({ activeMs: 43.5, gcMs: 12.5 });
  });

  it("passes a startup at the budget and fails one a millisecond over it, or over the limit", () => {
    expect(STARTUP_BUDGET_MS).toBeLessThan(STARTUP_LIMIT_MS);
    expect(judgeStartup({ activeMs: STARTUP_BUDGET_MS, gcMs: 0 }).problems).toEqual([]);
    expect(judgeStartup({ activeMs: STARTUP_BUDGET_MS + 1, gcMs: 0 }).problems).toEqual([
      "startup took 401.0 ms: over the project's 400 ms budget (limit 1000 ms)",
    ]);
    expect(judgeStartup({ activeMs: 1000.5, gcMs: 0 }, 2000).problems).toEqual([
      "startup took 1000.5 ms: Cloudflare refuses a Worker whose global scope runs over 1000 ms",
    ]);
  });
});

// Counts what one request or queue batch costs (cost-counters.ts), with a scope per ingested
// document. The wrapped bindings (metered.ts) add to the meter they were built with; a scope,
// carried in an AsyncLocalStorage so documents processed side by side stay apart, also gets the
// counts made inside it.
import { AsyncLocalStorage } from "node:async_hooks";
import { type CostCounters, emptyCounters } from "./cost-counters";

export class Meter {
  private readonly counters = emptyCounters();
  private readonly scopes = new AsyncLocalStorage<CostCounters>();

  add(name: keyof CostCounters, amount = 1): void {
    if (amount === 0 || !Number.isFinite(amount)) return;
    this.counters[name] += amount;
    const scope = this.scopes.getStore();
    if (scope) scope[name] += amount;
  }

  /**
   * Runs `work` in a scope of its own (one ingested document): see scoped(). `counters`: the
   * scope's counts, for a caller that reads them while `work` runs.
   */
  scope<T>(work: () => T, counters: CostCounters = emptyCounters()): T {
    return this.scopes.run(counters, work);
  }

  /** A copy of what the innermost scope has counted so far; undefined outside a scope. */
  scoped(): CostCounters | undefined {
    const scope = this.scopes.getStore();
    return scope ? { ...scope } : undefined;
  }

  /** A copy of everything counted so far, scopes included. */
  total(): CostCounters {
    return { ...this.counters };
  }
}

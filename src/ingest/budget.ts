// A document's ingest budget: the wall time one queue message may spend on its document, so a
// runaway document fails alone instead of holding its batch until the invocation is killed.
//
// In workerd, Date.now() only advances across I/O, so the clock is read between stages (each
// await: R2 read, parse, embedding, vector writes, the D1 commit) and a timer cuts off a stage
// stuck in an await. A purely synchronous runaway cannot be interrupted from JavaScript at all;
// the parsers' work caps bound that. Source: "Date.now() returns the time of the last I/O. It does
// not advance during code execution." (https://developers.cloudflare.com/workers/reference/security-model/)
import { AppError } from "../errors";

export class DocumentBudget {
  private readonly started: number;
  private stage = "start";
  private spent = false;

  constructor(
    readonly ms: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** Called before each stage: throws once the budget is spent, naming the stage it stopped at. */
  check(stage: string): void {
    this.stage = stage;
    if (this.spent || this.now() - this.started > this.ms) {
      this.spent = true;
      throw this.exceeded();
    }
  }

  /**
   * Runs `work`, rejecting when the budget runs out even while `work` waits on a stalled call.
   * The abandoned work stops at its next `check`, so it writes nothing more.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          this.spent = true;
          reject(this.exceeded());
        },
        Math.max(0, this.ms - (this.now() - this.started)),
      );
    });
    try {
      return await Promise.race([work(), deadline]);
    } finally {
      if (timer !== null) clearTimeout(timer);
    }
  }

  // Retryable: a slow dependency may be why; after max_retries the dead-letter consumer marks the
  // document failed with this reason.
  private exceeded(): AppError {
    return new AppError(
      "timeout",
      `document exceeded its ingest budget of ${this.ms} ms (INGEST_DOCUMENT_BUDGET_MS) at ${this.stage}`,
      { retryable: true },
    );
  }
}

/**
 * A batch's messages, smallest document first (messages without a size, such as deletes and
 * version tasks, count as small): the ordinary documents of a batch get their turn before a large
 * one can hold a slot for its whole budget.
 */
export function smallestFirst<M extends { readonly body: unknown }>(messages: readonly M[]): M[] {
  const size = (body: unknown): number => {
    if (typeof body !== "object" || body === null || !("object" in body)) return 0;
    const object = body.object;
    if (typeof object !== "object" || object === null || !("size" in object)) return 0;
    return typeof object.size === "number" ? object.size : 0;
  };
  return messages
    .map((message) => ({ message, size: size(message.body) }))
    .sort((a, b) => a.size - b.size)
    .map((entry) => entry.message);
}

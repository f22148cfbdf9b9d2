// How a Workers AI binding fails, for the fake bindings: it throws an Error whose message is
// "<internal code>: <description>" and nothing else machine-readable (no HTTP status).

export function upstreamError(code: number, description: string): Error {
  const err = new Error(`${code}: ${description}`);
  err.name = "InferenceUpstreamError";
  return err;
}

export function inputError(detail: string): Error {
  return upstreamError(5006, `Input validation error: ${detail}`);
}

/** A call that never answers, until its signal aborts it. */
export function hang(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(new Error("The operation was aborted")));
  });
}

// An embedder that stalls on one document: any call with a text containing `marker` waits until
// release(), as a Workers AI call that never answers would; every other call goes through.
import type { Embedder } from "../../src/embed/embedder";

export interface StallingEmbedder extends Embedder {
  /** How many calls are waiting now. */
  readonly stalled: number;
  release(): void;
}

export function stallingEmbedder(inner: Embedder, marker: string): StallingEmbedder {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let stalled = 0;
  return {
    model: inner.model,
    dimensions: inner.dimensions,
    maxInputTokens: inner.maxInputTokens,
    get stalled() {
      return stalled;
    },
    release: () => open(),
    async embed(texts, kind) {
      if (texts.some((t) => t.includes(marker))) {
        stalled += 1;
        await gate;
        stalled -= 1;
      }
      return inner.embed(texts, kind);
    },
  };
}

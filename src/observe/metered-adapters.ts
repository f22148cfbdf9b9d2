// Counts at the Embedder and VectorIndex interfaces, which both backends implement (Workers AI and
// Vectorize; the local embedder and index object): the same code counts production and local runs.
import { type Embedder, type EmbedKind, MAX_EMBED_BATCH } from "../embed/embedder";
import { countTokens } from "../embed/tokenizer";
import type { Converter } from "../ingest/convert/converter";
import type { Reranker } from "../rerank/reranker";
import type { QueryOptions, VectorIndex, VectorRecord } from "../vectors/vector-index";
import type { Meter } from "./meter";

/** [CLS] and [SEP], which the BGE models add to every input. */
const SPECIAL_TOKENS = 2;

/**
 * Input tokens of one embedding call as the model counts them. Workers AI's embedding models
 * report no usage (their output is `shape`, `data`, `pooling`: Ai_Cf_Baai_Bge_Base_En_V1_5_Output
 * in workers/worker-configuration.d.ts), so the tokens are counted with the models' own WordPiece
 * tokenizer (src/embed/tokenizer.ts), the query prefix included, each input cut at the model's
 * limit as the model cuts it.
 */
export function embeddingTokens(texts: readonly string[], maxInputTokens: number, prefix = ""): number {
  const prefixTokens = prefix === "" ? 0 : countTokens(prefix);
  let total = 0;
  for (const text of texts) {
    total += Math.min(maxInputTokens, countTokens(text) + prefixTokens + SPECIAL_TOKENS);
  }
  return total;
}

/** A proxy of `target` with some methods replaced; the rest reach the target bound to it. */
function override<T extends object>(target: T, methods: Partial<T>): T {
  return new Proxy(target, {
    get(obj, prop) {
      if (Object.hasOwn(methods, prop)) return Reflect.get(methods, prop);
      const value: unknown = Reflect.get(obj, prop, obj);
      return typeof value === "function" ? value.bind(obj) : value;
    },
  });
}

/**
 * The embedder counting one AI call per batch it sends (at most MAX_EMBED_BATCH texts) and the
 * input tokens, before the call: a call that fails or times out may still have run (and been
 * billed), and wrapped inside the retries each attempt counts. `queryPrefix` is what the model's
 * queries are prefixed with (query-format.ts).
 */
export function meteredEmbedder(embedder: Embedder, meter: Meter, queryPrefix = ""): Embedder {
  return override<Embedder>(embedder, {
    embed: (texts: string[], kind: EmbedKind) => {
      meter.add("aiCalls", Math.ceil(texts.length / MAX_EMBED_BATCH));
      const prefix = kind === "query" ? queryPrefix : "";
      meter.add("aiInputTokens", embeddingTokens(texts, embedder.maxInputTokens, prefix));
      return embedder.embed(texts, kind);
    },
  });
}

/**
 * The index counting queries and the dimensions they send (Vectorize bills "queried vector
 * dimensions", whatever the topK: https://developers.cloudflare.com/vectorize/platform/pricing/),
 * and the vectors written and deleted.
 */
export function meteredIndex(index: VectorIndex, meter: Meter): VectorIndex {
  return override<VectorIndex>(index, {
    upsert: (vectors: VectorRecord[]) => {
      meter.add("vectorizeVectorsWritten", vectors.length);
      return index.upsert(vectors);
    },
    query: (vector: number[] | Float32Array, options?: QueryOptions) => {
      meter.add("vectorizeQueries");
      meter.add("vectorizeQueryDimensions", vector.length);
      return index.query(vector, options);
    },
    deleteByIds: (ids: string[]) => {
      meter.add("vectorizeVectorsDeleted", ids.length);
      return index.deleteByIds(ids);
    },
  });
}

/** Per (query, text) pair the cross-encoder reads: [CLS] query [SEP] text [SEP]. */
const PAIR_SPECIAL_TOKENS = 3;
/** bge-reranker-base reads at most 512 tokens of a pair. */
const RERANK_MAX_TOKENS = 512;

/**
 * The reranker counting one AI call per rerank (one Workers AI request: rerank/workers-ai.ts) and
 * the tokens of every (query, text) pair it reads, counted as for embeddings.
 */
export function meteredReranker(reranker: Reranker, meter: Meter): Reranker {
  return override<Reranker>(reranker, {
    rerank: (query: string, texts: string[]) => {
      meter.add("aiCalls");
      const queryTokens = countTokens(query);
      let tokens = 0;
      for (const text of texts) {
        tokens += Math.min(RERANK_MAX_TOKENS, queryTokens + countTokens(text) + PAIR_SPECIAL_TOKENS);
      }
      meter.add("aiInputTokens", tokens);
      return reranker.rerank(query, texts);
    },
  });
}

/**
 * The document converter counting one AI call per document (toMarkdown takes one document per
 * call here: ingest/convert/workers-ai.ts), before the call as for embeddings. No tokens: a
 * conversion has no input tokens to bill. "toMarkdown is free for most format conversions. In
 * some cases, like image conversion, it can use Workers AI models for object detection and
 * summarization, which may incur additional costs"
 * (https://developers.cloudflare.com/workers-ai/features/markdown-conversion/, "Pricing"): the
 * neurons those models use are not reported to the caller, so they are not counted.
 */
export function meteredConverter(converter: Converter, meter: Meter): Converter {
  return override<Converter>(converter, {
    toMarkdown: (...args: Parameters<Converter["toMarkdown"]>) => {
      meter.add("aiCalls");
      return converter.toMarkdown(...args);
    },
  });
}

// How each embedding model wants its inputs written. BGE v1.5 models were trained to embed short
// retrieval queries behind an instruction prefix, and passages as they are; a model missing from
// the table gets its text unchanged. EMBEDDING_QUERY_INSTRUCTION overrides the prefix.

import { ownValue } from "../util/lookup";

/** BAAI's recommended prefix for short retrieval queries to bge v1.5 (passages get none). */
export const BGE_QUERY_INSTRUCTION = "Represent this sentence for searching relevant passages: ";

/** Query prefix per model. Documents never get one. */
export const QUERY_INSTRUCTIONS: Readonly<Record<string, string>> = {
  "@cf/baai/bge-small-en-v1.5": BGE_QUERY_INSTRUCTION,
  "@cf/baai/bge-base-en-v1.5": BGE_QUERY_INSTRUCTION,
  "@cf/baai/bge-large-en-v1.5": BGE_QUERY_INSTRUCTION,
};

/** The query prefix for a model: the override when given ("" for none), else the table's, else none. */
export function queryInstructionFor(model: string, override?: string): string {
  return override ?? ownValue(QUERY_INSTRUCTIONS, model) ?? "";
}

// By-id reads and deletes of any length over a VectorIndex, in calls within Vectorize's per-call
// caps (VECTORIZE_LIMITS.maxGetBatch, maxDeleteBatch): the one place callers page them.

import { mapLimit } from "../util/concurrency";
import { VECTORIZE_LIMITS, type VectorIndex, type VectorRecord } from "./vector-index";

/** `items` in consecutive pages of at most `size`. */
export function pages<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The vectors with these ids that exist, read maxGetBatch ids per call, `concurrency` calls at a
 * time, in the order of the pages.
 */
export async function getVectors<R = VectorRecord>(
  index: { getByIds(ids: string[]): Promise<R[]> },
  ids: readonly string[],
  concurrency = 1,
): Promise<R[]> {
  const read = await mapLimit(pages(ids, VECTORIZE_LIMITS.maxGetBatch), concurrency, (page) =>
    index.getByIds(page),
  );
  return read.flat();
}

/** Deletes the vectors with these ids, maxDeleteBatch per call; the last mutation's id, if any. */
export async function deleteVectors(
  index: Pick<VectorIndex, "deleteByIds">,
  ids: readonly string[],
): Promise<string | null> {
  let last: string | null = null;
  for (const page of pages(ids, VECTORIZE_LIMITS.maxDeleteBatch)) {
    last = (await index.deleteByIds(page)).mutationId;
  }
  return last;
}

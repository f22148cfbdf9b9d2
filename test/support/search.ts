// Searching a namespace through the API, typed with the search route's own response body.
import type { SearchResponseBody } from "../../workers/api/routes/search";
import { type ApiResponse, api, waitFor } from "./index";

/** What the search route answers: its exported type, so a test reads what a client reads. */
export type SearchBody = SearchResponseBody;

/** POSTs `body` to the namespace's search route, with `headers` and to `origin` like api(). */
export function searchApi(
  ns: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  origin?: string,
): Promise<ApiResponse<SearchBody>> {
  return api<SearchBody>("POST", `/v1/namespaces/${ns}/search`, body, headers, origin);
}

/**
 * Waits until a vector search for `query` finds `count` documents: vector writes apply
 * asynchronously after a document reads as indexed (as on Vectorize).
 */
export async function waitVectorsApplied(ns: string, query: string, count: number): Promise<void> {
  await waitFor(`${count} vectors applied in ${ns}`, async () => {
    const res = await searchApi(ns, { query, mode: "vector", topK: 10, cache: "bypass" });
    return res.body.results.length === count;
  });
}

/** Ten results read from the index as it is now: the result cache is bypassed. */
export function searchUncached(ns: string, query: string, mode = "hybrid"): Promise<ApiResponse<SearchBody>> {
  return searchApi(ns, { query, mode, topK: 10, cache: "bypass" });
}

// Pages of a search: which page a request asks for (its cursor, verified against the current
// ranking's sources) and the cursor of the page after it.
import { normalizedRequest } from "../cache/cached-search";
import type { Generation } from "../cache/generation";
import { canonicalJson, sha256Base64url } from "../cache/keys";
import { AppError } from "../errors";
import { CURSOR_LIMITS, type CursorBinding, checkCurrent, issueCursor, openCursor } from "./cursor";
import { MAX_RESULTS, type SearchRequest, type SearchSettings } from "./request";

export interface PagingDeps {
  cursorKey?: () => Promise<CryptoKey | null>;
  settings: SearchSettings;
  now?: () => number;
}

export interface PageSources {
  version: string;
  /** Null when KV could not say: no cursor is issued, and none can be checked. */
  generation: Generation | null;
  model: string;
  cursor?: string;
}

export interface Page {
  /** Results before this page. */
  offset: number;
  /** The cursor of the page after this one (of `topK` results), if one can be issued. */
  next(topK: number): Promise<string | undefined>;
}

/** The fields of a request that set its ranking, normalized as the result cache's key is. */
function binding(namespace: string, req: SearchRequest): CursorBinding {
  const { query, topK, filter, mode, groupBy, rerank } = req;
  // Only when set: cursors of searches without it stay valid across a deploy.
  const prefix = req.prefix ? { prefix: true } : {};
  return { namespace, request: normalizedRequest({ query, topK, filter, mode, groupBy, rerank, ...prefix }) };
}

/** The page `sources.cursor` points to (the first without one); throws 400/410/503 as it says. */
export async function openPage(
  deps: PagingDeps,
  namespace: string,
  req: SearchRequest,
  sources: PageSources,
): Promise<Page> {
  const key = deps.cursorKey ? await deps.cursorKey() : null;
  const now = deps.now ?? Date.now;
  const bound = binding(namespace, req);
  const current = sources.generation && {
    version: sources.version,
    generation: sources.generation.generation,
    config: await sha256Base64url(canonicalJson({ settings: deps.settings, model: sources.model })),
  };
  let offset = 0;
  if (sources.cursor !== undefined) {
    if (!key) {
      throw new AppError("unavailable", "this deployment has no ADMIN_API_KEY to verify cursors with", {
        retryable: false,
      });
    }
    const state = await openCursor(key, bound, sources.cursor, now());
    if (!current) {
      throw new AppError(
        "unavailable",
        "the namespace's write generation cannot be read to check the cursor",
        {
          retryable: true,
          extra: { retryAfter: 1 },
        },
      );
    }
    checkCurrent(state, current);
    offset = state.offset;
  }
  return {
    offset,
    next: async (topK) => {
      const end = offset + topK;
      if (!key || !current || end >= MAX_RESULTS) return undefined;
      return issueCursor(key, bound, { ...current, offset: end, expiresAt: now() + CURSOR_LIMITS.ttlMs });
    },
  };
}

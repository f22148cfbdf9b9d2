// Search cursors: the position of the next page, signed so that a client can neither forge nor
// alter one. A cursor is bound (by hash) to the namespace and to every request field that changes
// the ranking, and records what the ranking was computed from: the active version, the
// namespace's write generation and the search configuration. Opening one checks all of these and
// its expiry: another query's cursor or a damaged one is a 400 (invalid_cursor); a cursor whose
// ranking may have changed since is a 410 (cursor_stale), and the client starts over from page 1.
//
// Token: base64url(payload JSON) "." base64url(HMAC-SHA-256 of the payload's bytes), the key
// derived from ADMIN_API_KEY (HKDF, info below) as backup manifests' is when BACKUP_SIGNING_KEY
// is unset. Rotating ADMIN_API_KEY invalidates outstanding cursors, which live minutes anyway.
import { z } from "zod";
import { canonicalJson, sha256Base64url } from "../cache/keys";
import { AppError } from "../errors";
import { base64url, fromBase64url } from "../util/encoding";
import { derivedKeyOf } from "../util/hmac-key";

export const CURSOR_LIMITS = {
  /** A cursor's token is about 200 characters; longer input is refused before any decoding. */
  maxChars: 512,
  /** How long a cursor stays valid after the page that returned it. */
  ttlMs: 10 * 60_000,
} as const;

const DERIVATION_INFO = "edgesearch search cursor key v1";

/** The HMAC key cursors are signed with: none when the deployment has no ADMIN_API_KEY. */
export const cursorKey = derivedKeyOf(DERIVATION_INFO);

/** What a cursor is bound to: the namespace and the fields of the request that set the ranking. */
export interface CursorBinding {
  namespace: string;
  request: Record<string, unknown>;
}

/** What the ranking a cursor pages through was computed from. */
export interface RankingSource {
  version: string;
  generation: number;
  /** Hash of the retrieval settings and query model (a configuration change reorders results). */
  config: string;
}

/** A verified cursor: where its next page starts, and what its ranking was computed from. */
export interface CursorState extends RankingSource {
  offset: number;
  expiresAt: number;
}

const Payload = z.strictObject({
  o: z.number().int().min(0),
  b: z.string(),
  v: z.string(),
  g: z.number().int().min(0),
  c: z.string(),
  x: z.number().int(),
});

const encoder = new TextEncoder();

export function bindingHash(binding: CursorBinding): Promise<string> {
  return sha256Base64url(canonicalJson(binding));
}

export async function issueCursor(
  key: CryptoKey,
  binding: CursorBinding,
  state: CursorState,
): Promise<string> {
  const payload: z.infer<typeof Payload> = {
    o: state.offset,
    b: await bindingHash(binding),
    v: state.version,
    g: state.generation,
    c: state.config,
    x: state.expiresAt,
  };
  const bytes = encoder.encode(JSON.stringify(payload));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes));
  return `${base64url(bytes)}.${base64url(mac)}`;
}

const invalid = (why: string) =>
  new AppError("invalid_cursor", `${why}; send the request without a cursor to start from the first page`, {
    field: "body.cursor",
    retryable: false,
  });

/** Opens a cursor for `binding`: its state, or invalid_cursor (400) / cursor_stale (410 when expired). */
export async function openCursor(
  key: CryptoKey,
  binding: CursorBinding,
  token: string,
  now: number,
): Promise<CursorState> {
  const parts = token.length <= CURSOR_LIMITS.maxChars ? token.split(".") : [];
  const bytes = parts.length === 2 ? fromBase64url(parts[0] ?? "") : null;
  const mac = parts.length === 2 ? fromBase64url(parts[1] ?? "") : null;
  if (!bytes || !mac || bytes.length === 0) throw invalid("the cursor is malformed");
  // crypto.subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify("HMAC", key, mac, bytes))) {
    throw invalid("the cursor was not issued by this service, or was altered");
  }
  const payload = Payload.safeParse(parseJson(bytes));
  if (!payload.success) throw invalid("the cursor is malformed");
  const { o, b, v, g, c, x } = payload.data;
  if (b !== (await bindingHash(binding))) {
    throw invalid(
      "the cursor belongs to another search: send it with the namespace, query, filter, mode, groupBy, rerank, prefix and topK of the request that returned it",
    );
  }
  if (x <= now)
    throw stale("expired", `the cursor expired (cursors live ${CURSOR_LIMITS.ttlMs / 60_000} minutes)`);
  return { offset: o, version: v, generation: g, config: c, expiresAt: x };
}

/**
 * The version a cursor says its ranking came from, read without verifying it (openCursor does,
 * later): an experiment answers the cursor's page from that version. Undefined when unreadable.
 */
export function cursorVersion(token: string): string | undefined {
  const parts = token.length <= CURSOR_LIMITS.maxChars ? token.split(".") : [];
  const bytes = parts.length === 2 ? fromBase64url(parts[0] ?? "") : null;
  const payload = bytes ? Payload.safeParse(parseJson(bytes)) : null;
  return payload?.success ? payload.data.v : undefined;
}

/**
 * Refuses a cursor whose ranking may have changed: another version is active, the search
 * configuration changed, or the namespace was written since (a generation newer than the
 * cursor's; an older one is a location whose view lags, which knows of no change).
 */
export function checkCurrent(state: CursorState, current: RankingSource): void {
  if (state.version !== current.version) {
    throw stale("version", `the namespace's active index version changed (now ${current.version})`);
  }
  if (state.config !== current.config) throw stale("configuration", "the search configuration changed");
  if (current.generation > state.generation) {
    throw stale("written", "documents of the namespace were written or deleted");
  }
}

function stale(reason: string, why: string): AppError {
  return new AppError(
    "cursor_stale",
    `${why} since this cursor was issued, so its results may have moved between pages; search again without a cursor`,
    { field: "body.cursor", retryable: false, extra: { reason } },
  );
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return undefined;
  }
}

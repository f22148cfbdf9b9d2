// Search ids: what feedback refers to. Signed, not stored (a KV write per search would cost more
// than the search): the token carries the namespace, version, arm and experiment, when it was
// issued, and a 32-bit fingerprint of each of the first MAX_RECORDED results, HMAC-SHA-256 over
// all of it with a key derived from ADMIN_API_KEY. Feedback is checked against the token alone.
import { z } from "zod";
import { AppError } from "../errors";
import { base64url, fromBase64url } from "../util/encoding";
import { derivedKeyOf, HMAC_SHA256 } from "../util/hmac-key";
import { ARMS, type Arm, fnv1a } from "./model";

export const SEARCH_ID_LIMITS = {
  /** Results a search id records; feedback on a later position is refused. */
  maxRecorded: 20,
  /** How long feedback on a search is accepted. */
  ttlMs: 24 * 60 * 60_000,
  maxChars: 1024,
} as const;

const DERIVATION_INFO = "edgesearch search id key v1";
const encoder = new TextEncoder();

/** The HMAC key search ids are signed with: none when the deployment has no ADMIN_API_KEY. */
export const searchIdKey = derivedKeyOf(DERIVATION_INFO);

const Payload = z.strictObject({
  n: z.string(),
  v: z.string(),
  a: z.enum(ARMS).optional(),
  e: z.string().optional(),
  t: z.number().int(),
  o: z.number().int().min(0),
  h: z.array(z.number().int().min(0)).max(SEARCH_ID_LIMITS.maxRecorded),
  r: z.string(),
});

export interface SearchRecord {
  namespace: string;
  version: string;
  arm?: Arm;
  experiment?: string;
  issuedAt: number;
  /** The ranking position of the answer's first result (0 on the first page). */
  offset: number;
  /** The answer's document ids, in order. */
  documents: readonly string[];
}

export async function issueSearchId(key: CryptoKey, search: SearchRecord): Promise<string> {
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(6)));
  const payload: z.infer<typeof Payload> = {
    n: search.namespace,
    v: search.version,
    ...(search.arm ? { a: search.arm } : {}),
    ...(search.experiment ? { e: search.experiment } : {}),
    t: search.issuedAt,
    o: search.offset,
    h: search.documents.slice(0, SEARCH_ID_LIMITS.maxRecorded).map(fnv1a),
    r: nonce,
  };
  const body = base64url(encoder.encode(JSON.stringify(payload)));
  const mac = new Uint8Array(await crypto.subtle.sign(HMAC_SHA256, key, encoder.encode(body)));
  return `${body}.${base64url(mac)}`;
}

/** A search id's record: its documents as fingerprints, and its signature. */
export interface VerifiedSearch extends Omit<SearchRecord, "documents"> {
  fingerprints: number[];
  /** The signature: unique per search (the nonce), the key a search's first click is stored under. */
  signature: string;
}

function invalid(detail: string): AppError {
  return new AppError("validation_failed", detail, { field: "body.searchId", retryable: false });
}

/** The search a search id names; 400 when it is damaged, forged or expired. */
export async function openSearchId(key: CryptoKey, token: string, now: number): Promise<VerifiedSearch> {
  const parts = token.length <= SEARCH_ID_LIMITS.maxChars ? token.split(".") : [];
  const bytes = parts.length === 2 ? fromBase64url(parts[0] ?? "") : null;
  const mac = parts.length === 2 ? fromBase64url(parts[1] ?? "") : null;
  if (!bytes || !mac || bytes.length === 0) throw invalid("searchId is not one this service issued");
  // crypto.subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify(HMAC_SHA256, key, mac, encoder.encode(parts[0])))) {
    throw invalid("searchId is not one this service issued, or was altered");
  }
  const parsed = Payload.safeParse(parseJson(bytes));
  if (!parsed.success) throw invalid("searchId is not one this service issued");
  const p = parsed.data;
  if (p.t + SEARCH_ID_LIMITS.ttlMs < now) {
    throw invalid(`searchId expired (feedback is accepted for ${SEARCH_ID_LIMITS.ttlMs / 3_600_000} hours)`);
  }
  return {
    namespace: p.n,
    version: p.v,
    ...(p.a ? { arm: p.a } : {}),
    ...(p.e ? { experiment: p.e } : {}),
    issuedAt: p.t,
    offset: p.o,
    fingerprints: p.h,
    signature: parts[1] ?? "",
  };
}

/**
 * Checks that `documentId` was the answer's result at ranking `position` (1-based, counted over
 * the whole ranking: a second page of 10 starts at 11); 400 otherwise.
 */
export function checkPosition(search: VerifiedSearch, documentId: string, position: number): void {
  const index = position - 1 - search.offset;
  if (index < 0 || index >= SEARCH_ID_LIMITS.maxRecorded) {
    throw new AppError(
      "validation_failed",
      `position ${position} is outside the answer the searchId records (positions ${search.offset + 1} to ${search.offset + SEARCH_ID_LIMITS.maxRecorded})`,
      { field: "body.position", retryable: false },
    );
  }
  if (search.fingerprints[index] !== fnv1a(documentId)) {
    throw new AppError(
      "validation_failed",
      `document "${documentId}" was not the result at position ${position} of that search`,
      { field: "body.documentId", retryable: false },
    );
  }
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return undefined;
  }
}

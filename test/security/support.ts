// Shared by the security suites: raw requests (any header, any body bytes), problem+json checks,
// key management through the admin API, seeding, and a snapshot of everything stored so a test
// can prove that a refused request wrote nothing.
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { adminKey, api, writeIndexed } from "../support";
import type { Role } from "./routes";

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface RawRequest {
  method: string;
  path: string;
  /** Header values are sent as given; an absent authorization means none is sent. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** The Request a client would send; throws (as fetch would) for a method or header it cannot send. */
export function toRequest(req: RawRequest): Request {
  const init: RequestInit = { method: req.method, headers: req.headers ?? {} };
  if (req.body !== undefined) init.body = req.body;
  return new Request(`http://edgesearch.test${req.path}`, init);
}

/** Calls the Worker with exactly the given headers and body (nothing added). */
export async function send(req: RawRequest): Promise<RawResponse> {
  return fetchWorker(toRequest(req));
}

export async function fetchWorker(request: Request): Promise<RawResponse> {
  const res = await exports.default.fetch(request);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const bearer = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });

/** The members a problem body may have: nothing else may ride along on an error. */
const PROBLEM_MEMBERS = new Set([
  "type",
  "title",
  "status",
  "detail",
  "requestId",
  "code",
  "field",
  "errors",
  "retryAfter",
]);

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  requestId: string;
  code: string;
}

/** What is wrong with a response that should be a problem+json answer, or null. */
export function problemDefect(res: RawResponse): string | null {
  const type = res.headers.get("content-type") ?? "";
  if (!type.startsWith("application/problem+json")) return `content-type is "${type}"`;
  const body = res.json;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body is not a JSON object";
  const p = body as Record<string, unknown>;
  for (const member of ["type", "title", "detail", "requestId"]) {
    if (typeof p[member] !== "string" || p[member] === "") return `"${member}" is not a non-empty string`;
  }
  if (p.status !== res.status) return `"status" is ${String(p.status)}, HTTP status is ${res.status}`;
  if (p.requestId !== res.headers.get("x-request-id")) return "requestId differs from x-request-id";
  return null;
}

/** Asserts a problem+json answer with this status that carries nothing but the problem. */
export function expectProblem(res: RawResponse, status: number): ProblemBody {
  expect(res.status, res.text).toBe(status);
  expect(problemDefect(res), res.text).toBeNull();
  const extra = Object.keys(res.json as object).filter((k) => !PROBLEM_MEMBERS.has(k));
  expect(extra, "members beyond the problem's").toEqual([]);
  if (status === 401) expect(res.headers.get("www-authenticate") ?? "").toMatch(/^Bearer\b/);
  return res.json as ProblemBody;
}

/** Asserts that none of the given strings (document text, titles, ids) appear in a body. */
export function expectNoneOf(text: string, secrets: readonly string[]): void {
  const leaked = secrets.filter((s) => s.length > 0 && text.includes(s));
  expect(leaked, `response leaked ${JSON.stringify(leaked)}: ${text.slice(0, 300)}`).toEqual([]);
}

export interface KeySpec {
  name?: string;
  namespaces: string[];
  roles: Role[];
  rateLimit?: "low" | "standard" | "high" | "unlimited";
  expiresAt?: string;
}

export interface CreatedKey {
  id: string;
  key: string;
}

/** Creates a key with the given admin key (the bootstrap admin key by default). */
export async function createKey(spec: KeySpec, creator = adminKey()): Promise<CreatedKey> {
  const res = await api<{ id: string; key: string }>(
    "POST",
    "/v1/admin/keys",
    { name: spec.name ?? "security-suite", rateLimit: "high", ...spec },
    bearer(creator),
  );
  if (res.status !== 201) throw new Error(`creating a key failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.id, key: res.body.key };
}

export async function revokeKey(id: string, revoker = adminKey()): Promise<void> {
  const res = await api("DELETE", `/v1/admin/keys/${id}`, undefined, bearer(revoker));
  if (res.status !== 200) throw new Error(`revoking key ${id} failed: ${res.status}`);
}

/** A syntactically valid key that was never issued. */
export function unknownKey(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const pick = (n: number) =>
    Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b % alphabet.length] ?? "A").join(
      "",
    );
  return `es_${pick(16)}_${pick(43)}`;
}

export interface SeedDocument {
  id: string;
  title: string;
  text: string;
}

/** Writes documents with the bootstrap admin key and waits until each is indexed. */
export async function seed(ns: string, docs: readonly SeedDocument[]): Promise<void> {
  await writeIndexed(ns, docs);
}

/**
 * Everything a request could change: document rows, chunk rows per namespace, namespace
 * generations, key rows, dead letters, and every R2 object with its eTag.
 */
export async function snapshotStorage(): Promise<unknown> {
  const rows = async (sql: string) => (await env.DB.prepare(sql).all()).results;
  const objects: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.DOCUMENTS.list({ cursor, limit: 1000 });
    for (const o of page.objects) objects.push(`${o.key} ${o.etag}`);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return {
    documents: await rows(
      "SELECT namespace, id, status, title, etag, indexed_etag, chunk_count, updated_at FROM documents ORDER BY namespace, id",
    ),
    chunks: await rows("SELECT namespace, COUNT(*) AS n FROM chunks GROUP BY namespace ORDER BY namespace"),
    namespaces: await rows("SELECT name, generation FROM namespaces ORDER BY name"),
    keys: await rows("SELECT id, name, namespaces, roles, revoked_at FROM api_keys ORDER BY id"),
    deadLetters: await rows("SELECT id, namespace, doc_id, replayed_at FROM dead_letters ORDER BY id"),
    objects,
  };
}

/**
 * A number from the environment vitest runs in. Only VITE_-prefixed variables reach the tests'
 * `process.env` inside workerd (and `import.meta.env` is fixed when a file is first transformed).
 */
export function envNumber(name: `VITE_${string}`, fallback: number): number {
  const raw = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

/**
 * Records a dead letter for a document the way the dead-letter consumer does (a message that
 * exhausted its retries), and returns its id.
 */
export async function insertDeadLetter(ns: string, docId: string): Promise<number> {
  const key = `${ns}/${docId}`;
  const body = {
    account: "local",
    action: "PutObject",
    bucket: env.DOCUMENTS_BUCKET_NAME,
    object: { key, size: 1, eTag: "0" },
    eventTime: new Date().toISOString(),
  };
  const row = await env.DB.prepare(
    `INSERT INTO dead_letters (message_id, namespace, doc_id, body, error, attempts, received_at)
     VALUES (?1, ?2, ?3, ?4, ?5, 6, ?6) RETURNING id`,
  )
    .bind(`dl-${crypto.randomUUID()}`, ns, docId, JSON.stringify(body), `failed indexing ${key}`, Date.now())
    .first<{ id: number }>();
  if (!row) throw new Error("inserting a dead letter returned no row");
  return row.id;
}

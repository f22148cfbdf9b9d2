// Test helpers: call the Worker like a client would, and wait for asynchronous indexing.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import type { DocumentStore } from "../../src/store/documents";
import worker from "../../workers/index";

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/** The bootstrap admin key of the test environment (ADMIN_API_KEY in vitest.config.ts). */
export function adminKey(): string {
  const key = (env as unknown as { ADMIN_API_KEY?: string }).ADMIN_API_KEY;
  if (!key) throw new Error("ADMIN_API_KEY is not set in the test environment");
  return key;
}

/** The origin test requests are sent to: a custom domain, where the Cache API works. */
export const TEST_ORIGIN = "http://edgesearch.test";

/**
 * Calls the Worker. Sends the admin key unless `headers.authorization` is given; pass
 * `authorization: ""` to send no Authorization header at all. `origin` is the host the request
 * arrives on (e.g. a *.workers.dev one).
 */
export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  origin = TEST_ORIGIN,
): Promise<ApiResponse<T>> {
  const all: Record<string, string> = { authorization: `Bearer ${adminKey()}`, ...headers };
  if (all.authorization === "") delete all.authorization;
  const init: RequestInit = { method, headers: all };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(new Request(`${origin}${path}`, init));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/**
 * Calls the Worker's fetch handler with another env (vars or bindings replaced) and the admin key,
 * and waits for the work it left running.
 */
export async function apiWithEnv<T = Record<string, unknown>>(
  workerEnv: Env,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse<T>> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${TEST_ORIGIN}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey()}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    workerEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, headers: res.headers, body: (await res.json()) as T };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until the namespace holds `count` indexed documents and none is pending. */
export async function waitIndexed(ns: string, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${count} documents indexed in ${ns}`,
    async () => {
      const stats = await api<{ documents: number; pending: number }>("GET", `/v1/namespaces/${ns}`);
      return stats.body.documents === count && stats.body.pending === 0;
    },
    timeoutMs,
    100,
  );
}

/**
 * Writes an indexed document straight into D1, as a namespace created before the shard map has:
 * no coordinator and no assignment, only documents.
 */
export async function seedIndexedDocument(ns: string): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO documents (namespace, id, status, content_type, chunk_count, created_at, updated_at, indexed_at)
     VALUES (?1, 'old-doc', 'indexed', 'text/plain', 0, ?2, ?2, ?2)`,
  )
    .bind(ns, now)
    .run();
}

/** A document for seedDocuments: one chunk per text. */
export interface SeedDocument {
  id: string;
  title: string;
  texts: string[];
}

/**
 * Writes indexed documents and their chunks (version v1, with their keyword rows) straight into
 * D1 through the document store, as the ingest consumer commits them; chunk ids are
 * "<ns>-<doc id>-<chunk index>".
 */
export async function seedDocuments(store: DocumentStore, ns: string, docs: SeedDocument[]): Promise<void> {
  await store.upsertQueued(
    ns,
    docs.map((d) => ({
      id: d.id,
      title: d.title,
      contentType: "text/plain",
      metadata: {},
      bytes: 1,
      etag: "e",
    })),
  );
  for (const d of docs) {
    await store.commitIndexed(ns, d.id, "e", {
      title: d.title,
      versions: [
        {
          version: "v1",
          chunks: d.texts.map((text, index) => ({
            chunkId: `${ns}-${d.id}-${index}`,
            index,
            title: d.title,
            headings: [],
            text,
            tokens: 8,
          })),
        },
      ],
    });
  }
}

let counter = 0;
/** A namespace no other test uses (tests share storage within a file). */
export function freshNamespace(prefix = "t"): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

/** Writes documents through the API with the admin key and waits until each one is indexed. */
export async function writeIndexed(ns: string, docs: readonly { id: string }[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
  if (res.status !== 202)
    throw new Error(`writing to ${ns} failed: ${res.status} ${JSON.stringify(res.body)}`);
  for (const d of docs) await waitForStatus(ns, d.id, "indexed");
}

export async function waitForStatus(
  ns: string,
  id: string,
  status: string,
): Promise<Record<string, unknown>> {
  return waitFor(`${ns}/${id} to be ${status}`, async () => {
    const res = await api<Record<string, unknown>>(
      "GET",
      `/v1/namespaces/${ns}/documents/${encodeURIComponent(id)}`,
    );
    return res.status === 200 && res.body.status === status ? res.body : undefined;
  });
}

/** Writes an object to the documents bucket as an upload would, without the API's checks. */
export async function putObject(key: string, body: string, options?: R2PutOptions): Promise<R2Object> {
  const object = await env.DOCUMENTS.put(key, body, options);
  if (!object) throw new Error("R2 put returned no object");
  return object;
}

/** The `n` column of a one-row COUNT query. */
export async function countRows(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Waits until the namespace's version `id` is built (state "ready"). */
export async function waitVersionReady(ns: string, id: string): Promise<void> {
  await waitFor(
    `${id} ready`,
    async () =>
      (await api<{ state: string }>("GET", `/v1/namespaces/${ns}/versions/${id}`)).body.state === "ready",
    90_000,
    100,
  );
}

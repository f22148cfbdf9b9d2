// Fuzzing the whole HTTP surface: thousands of generated hostile requests (wrong types, odd
// strings, deep nesting, invalid UTF-8, random paths, methods and content types). Whatever arrives,
// the service answers below 500, every error is problem+json, and the documents of a namespace the
// fuzzer's keys cannot write stay exactly as they were.

import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { adminKey } from "../support";
import { encodedSegmentRequest, type FuzzKeys, type FuzzRequest, fuzzRequest } from "./fuzz-inputs";
import { percentEncode } from "./fuzz-values";
import {
  bearer,
  createKey,
  envNumber,
  fetchWorker,
  problemDefect,
  type RawResponse,
  seed,
  send,
  toRequest,
} from "./support";

/** Generated requests of the main run (one request per run). Override with VITE_FUZZ_RUNS. */
const FUZZ_RUNS = envNumber("VITE_FUZZ_RUNS", 10_000);
/** Set VITE_FUZZ_SEED to replay a run; the seed in use is printed with the summary. */
const FUZZ_SEED = envNumber("VITE_FUZZ_SEED", Math.floor(Math.random() * 2 ** 31));
const ENCODED_RUNS = envNumber("VITE_FUZZ_ENCODED_RUNS", 300);

const STORED = "stored-corpus";
const STORED_DOCS = [
  {
    id: "stored-1",
    title: "Quillwort Ledger",
    text: "The quillwort ledger records glacier lakes, their depth and the xenolith samples taken.",
    metadata: { category: "geology", year: 2021 },
  },
  {
    id: "stored-2",
    title: "Marzipan Protocol",
    text: "The marzipan protocol describes almond paste, sugar ratios and the kiln used to dry it.",
    metadata: { category: "cooking", year: 2019 },
  },
  {
    id: "stored-3",
    title: "Ünïcödé Ŧitle 🔑",
    text: "Right-to-left \u200f marks, combining e\u0301 accents and emoji 👩‍👩‍👧‍👦 in the zephyrine archive.",
    metadata: { category: "text", lang: "mixed" },
  },
];
/** Strings only the stored documents contain: no answer to the fuzzer's admin keys may hold one. */
const STORED_MARKERS = [
  "Quillwort",
  "quillwort",
  "Marzipan",
  "marzipan",
  "zephyrine",
  "xenolith",
  "stored-1",
];

/** Queries whose answers must not change. */
const PROBES = [
  { query: "quillwort glacier lakes", mode: "vector" },
  { query: "marzipan almond kiln", mode: "keyword" },
  { query: "zephyrine archive accents", mode: "hybrid" },
  { query: "ledger protocol", mode: "hybrid", filter: { category: "cooking" } },
];

interface Violation {
  rule: string;
  count: number;
  request: string;
  status: number;
  response: string;
}

class Tally {
  requests = 0;
  unsendable = 0;
  serverErrors = 0;
  rateLimited = 0;
  slowestMs = 0;
  slowest = "";
  readonly byStatus = new Map<number, number>();
  readonly violations = new Map<string, Violation>();

  record(rule: string, req: FuzzRequest, res: RawResponse | null): void {
    const key = `${rule} | ${req.route ?? "random path"} | ${res?.status ?? "threw"}`;
    const seen = this.violations.get(key);
    if (seen) {
      seen.count += 1;
      return;
    }
    this.violations.set(key, {
      rule,
      count: 1,
      request: describeRequest(req),
      status: res?.status ?? 0,
      response: res ? res.text.slice(0, 300) : "",
    });
  }

  summary(label: string): string {
    const statuses = [...this.byStatus.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}:${n}`)
      .join(" ");
    return `${label}: ${this.requests} requests, ${this.serverErrors} 5xx (seed ${FUZZ_SEED}; ${this.rateLimited} rate-limited, ${this.unsendable} unsendable; statuses ${statuses}; slowest ${Math.round(this.slowestMs)} ms: ${this.slowest})`;
  }
}

function describeRequest(r: FuzzRequest): string {
  const body =
    r.body === undefined
      ? "(no body)"
      : typeof r.body === "string"
        ? JSON.stringify(r.body.length > 200 ? `${r.body.slice(0, 200)}…(${r.body.length} chars)` : r.body)
        : `bytes [${Array.from(r.body.slice(0, 48), (b) => b.toString(16).padStart(2, "0")).join(" ")}${r.body.length > 48 ? " …" : ""}] (${r.body.length})`;
  const path = r.path.length > 200 ? `${r.path.slice(0, 200)}…(${r.path.length} chars)` : r.path;
  return `${r.method} ${path} auth=${r.auth} content-type=${JSON.stringify(r.headers["content-type"] ?? null)} body=${body}`;
}

function decodedPath(path: string): string {
  const pathname = new URL(`http://edgesearch.test${path}`).pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

/** Sends one request and checks every rule that holds whatever the request was. */
async function fire(req: FuzzRequest, tally: Tally): Promise<void> {
  let request: Request;
  try {
    request = toRequest(req);
  } catch {
    // A method or header no client can send (the generators avoid these; counted, not sent).
    tally.unsendable += 1;
    return;
  }
  tally.requests += 1;
  let res: RawResponse;
  const started = performance.now();
  try {
    res = await fetchWorker(request);
  } catch (err) {
    tally.serverErrors += 1;
    tally.record(`the Worker threw: ${String(err).slice(0, 120)}`, req, null);
    return;
  }
  const ms = performance.now() - started;
  if (ms > tally.slowestMs) {
    tally.slowestMs = ms;
    tally.slowest = describeRequest(req).slice(0, 160);
  }
  tally.byStatus.set(res.status, (tally.byStatus.get(res.status) ?? 0) + 1);
  if (res.status === 429) tally.rateLimited += 1;
  const method = req.method.toUpperCase();
  const ok = res.status >= 200 && res.status < 300;
  if (res.status >= 500) {
    tally.serverErrors += 1;
    tally.record("5xx", req, res);
  }
  if (!ok && method !== "HEAD") {
    const defect = problemDefect(res);
    if (defect) tally.record(`not problem+json: ${defect}`, req, res);
  }
  // A marker the request itself carries may come back in an error that quotes the input.
  const sent = `${req.path} ${typeof req.body === "string" ? req.body : ""}`;
  const markers = STORED_MARKERS.filter((m) => !sent.includes(m));
  if (req.auth !== "search" && markers.some((m) => res.text.includes(m))) {
    tally.record("stored documents leaked to a key that does not cover them", req, res);
  }
  const path = decodedPath(req.path);
  if (
    ok &&
    (req.auth === "none" || req.auth === "garbage") &&
    method !== "OPTIONS" &&
    path.startsWith("/v1")
  ) {
    tally.record("2xx on /v1 without a valid key", req, res);
  }
  const isWrite =
    method === "PUT" ||
    method === "DELETE" ||
    method === "PATCH" ||
    (method === "POST" && !path.endsWith("/search") && !path.endsWith("/similar"));
  if (ok && req.auth === "search" && isWrite)
    tally.record("write succeeded with a search-only key", req, res);
}

function report(tally: Tally): string {
  return [...tally.violations.values()]
    .map((v) => `${v.rule} (x${v.count})\n  request: ${v.request}\n  response: ${v.status} ${v.response}`)
    .join("\n");
}

interface StoredState {
  rows: unknown;
  objects: string[];
  generation: unknown;
  stats: unknown;
  documents: unknown[];
  results: unknown[];
}

let keys: FuzzKeys;
let before: StoredState;

async function storedState(searchKey: string): Promise<StoredState> {
  const rows = (
    await env.DB.prepare(
      "SELECT id, status, title, etag, indexed_etag, chunk_count, version, updated_at FROM documents WHERE namespace = ? ORDER BY id",
    )
      .bind(STORED)
      .all()
  ).results;
  const generation = await env.DB.prepare("SELECT generation FROM namespaces WHERE name = ?")
    .bind(STORED)
    .first();
  const listed = await env.DOCUMENTS.list({ prefix: `${STORED}/` });
  const call = (method: string, path: string, body?: unknown) =>
    send({
      method,
      path,
      headers: { ...bearer(searchKey), "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const stats = await call("GET", `/v1/namespaces/${STORED}`);
  const documents: unknown[] = [];
  for (const d of STORED_DOCS)
    documents.push((await call("GET", `/v1/namespaces/${STORED}/documents/${d.id}`)).json);
  const results: unknown[] = [];
  for (const probe of PROBES) {
    const res = await call("POST", `/v1/namespaces/${STORED}/search`, {
      ...probe,
      topK: 10,
      cache: "bypass",
    });
    expect(res.status, res.text).toBe(200);
    results.push((res.json as { results: unknown[] }).results);
  }
  return {
    rows,
    objects: listed.objects.map((o) => `${o.key} ${o.etag}`),
    generation,
    stats: stats.json,
    documents,
    results,
  };
}

beforeAll(async () => {
  const admins: string[] = [];
  const searchers: string[] = [];
  const searcherIds: string[] = [];
  // Several keys of each kind, so the fuzzer's pace stays within each key's rate limit.
  for (let i = 0; i < 3; i++) {
    admins.push((await createKey({ name: `fuzz admin ${i}`, namespaces: ["fuzz-*"], roles: ["admin"] })).key);
    const s = await createKey({ name: `stored searcher ${i}`, namespaces: [STORED], roles: ["search"] });
    searchers.push(s.key);
    searcherIds.push(s.id);
  }
  const expendable = await createKey({ name: "expendable", namespaces: ["fuzz-x"], roles: ["search"] });
  keys = {
    admins,
    searchers,
    targetIds: [...searcherIds, expendable.id, "admin-secret", "", "x".repeat(65)],
    stored: STORED,
  };
  await seed(STORED, STORED_DOCS);
  // Vector writes apply asynchronously: wait until every stored document is found by vector.
  const searchKey = searchers[0] ?? "";
  for (;;) {
    const res = await send({
      method: "POST",
      path: `/v1/namespaces/${STORED}/search`,
      headers: { ...bearer(searchKey), "content-type": "application/json" },
      body: JSON.stringify({ query: "ledger protocol archive", mode: "vector", topK: 10, cache: "bypass" }),
    });
    if ((res.json as { results?: unknown[] }).results?.length === STORED_DOCS.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  before = await storedState(searchKey);
}, 60_000);

describe("fuzzing every route", () => {
  it(`answers ${FUZZ_RUNS} generated requests without a 5xx, with problem+json errors, leaking nothing`, async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(fuzzRequest(keys), async (req) => {
        await fire(req, tally);
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
    );
    console.log(tally.summary("fuzz"));
    expect(tally.requests).toBeGreaterThanOrEqual(FUZZ_RUNS * 0.99);
    expect(report(tally), "violations").toBe("");
    expect(tally.serverErrors).toBe(0);
  }, 600_000);

  it("left the namespace the fuzzer cannot write exactly as it was", async () => {
    expect(await storedState(keys.searchers[0] ?? "")).toEqual(before);
  });

  // The authorization middleware must judge the path the router decodes: otherwise
  // "/v1/%6eamespaces/<ns>/..." would skip the namespace check and "/v1/%61dmin/..." the admin role.
  it("authorizes URLs with percent-encoded fixed segments as the route they reach", async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(encodedSegmentRequest(keys), async (req) => {
        await fire(req, tally);
      }),
      { numRuns: ENCODED_RUNS, seed: FUZZ_SEED },
    );
    console.log(tally.summary("fuzz (encoded segments)"));
    expect(report(tally), "violations").toBe("");
    expect(await storedState(keys.searchers[0] ?? "")).toEqual(before);
  }, 120_000);
});

describe("document ids from hostile input", () => {
  // An id is either refused with a 400, or accepted and then readable under that same id.
  const ids: [string, string][] = [
    ["plain", "plain-id"],
    ["a path", "notes/day 1.md"],
    ["combining characters", "e\u0301\u0302"],
    ["an RTL mark", "\u200fmark"],
    ["an emoji sequence", "👩‍👩‍👧‍👦"],
    ["U+FFFD itself", "\ufffd"],
    ["U+0000", "a\u0000b"],
    ["a C1 control", "a\u0085b"],
    ["a line separator", "a\u2028b"],
    ["a bidirectional override", "a\u202eb"],
    ["a bidirectional isolate", "\u2066a\u2069"],
    ["a lone high surrogate", "\ud800"],
    ["a lone low surrogate", "x\udfff"],
    [".", "."],
    ["..", ".."],
  ];
  // Lone surrogates would be stored as U+FFFD (two ids naming one document, neither readable);
  // "." and ".." cannot be a URL path segment: such ids are refused.
  const ns = "ids-roundtrip";

  for (const [label, id] of ids) {
    it(`an id with ${label} is refused or reads back unchanged`, async () => {
      const headers = { ...bearer(adminKey()), "content-type": "application/json" };
      const res = await send({
        method: "POST",
        path: `/v1/namespaces/${ns}/documents`,
        headers,
        body: JSON.stringify({ documents: [{ id, text: `document ${label}` }] }),
      });
      if (res.status === 400) {
        expect(problemDefect(res)).toBeNull();
        return;
      }
      expect(res.status, res.text).toBe(202);
      expect((res.json as { ids: string[] }).ids).toEqual([id]);
      const read = await send({
        method: "GET",
        path: `/v1/namespaces/${ns}/documents/${percentEncode(id)}`,
        headers,
      });
      expect(read.status, read.text).toBe(200);
      expect((read.json as { id: string }).id).toBe(id);
    });
  }
});

// Paging search results with cursors through the API: pages of 10 over a query's first 100 results
// give each result once, in the order one request for topK 100 gives, in every mode, grouped by
// document or not; pages are cached by position and keep their highlights; a cursor that is not
// this query's, damaged, oversized or stale is refused with a problem+json 4xx.
import { beforeAll, describe, expect, it } from "vitest";
import { api, freshNamespace, waitFor, waitIndexed } from "../support";
import { type SearchBody, searchApi, waitVectorsApplied } from "../support/search";

const WORDS = ["orbit", "tail", "ice", "dust", "nucleus", "coma", "perihelion", "telescope"];

/** 130 documents that all say "comet", 10 of them long enough for several chunks. */
function documents() {
  return Array.from({ length: 130 }, (_, i) => {
    const words = WORDS.filter((_, w) => (i >> w) % 2 === 1 || w === i % WORDS.length).join(" ");
    const sentence = `${"comet ".repeat(1 + (i % 5))}${words} record ${i}.`;
    const text =
      i % 13 === 0
        ? Array.from(
            { length: 25 },
            (_, s) => `${sentence} Part ${s} of the survey notes ${WORDS[s % 8]}.`,
          ).join(" ")
        : sentence;
    return { id: `d${String(i).padStart(3, "0")}`, text, title: `Comet ${i}` };
  });
}

type Result = SearchBody["results"][number];
const key = (r: Result) => `${r.id}/${r.chunkId}/${r.score}`;

/** Every page of `body` in pages of `size`: the results in order and how many pages there were. */
async function allPages(ns: string, body: Record<string, unknown>, size: number) {
  const results: Result[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await searchApi(ns, { ...body, topK: size, ...(cursor ? { cursor } : {}) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results.length).toBeLessThanOrEqual(size);
    results.push(...res.body.results);
    cursor = res.body.nextCursor;
    pages += 1;
  } while (cursor && pages < 20);
  return { results, pages };
}

const problem = (res: { status: number; headers: Headers; body: unknown }) => ({
  status: res.status,
  type: res.headers.get("content-type"),
  code: (res.body as { code?: string }).code,
});

describe("search pages", () => {
  const ns = freshNamespace("pg");
  const query = "comet orbit dust";

  beforeAll(async () => {
    const res = await api("POST", `/v1/namespaces/${ns}/documents`, { documents: documents() });
    expect(res.status).toBe(202);
    await waitIndexed(ns, 130, 110_000);
    await waitVectorsApplied(ns, "comet", 10);
    // Vectors apply 100 ms after their write (the local index), and the namespace's write
    // generation reaches KV within about a second: let both settle before comparing pages.
    await new Promise((r) => setTimeout(r, 1500));
  }, 120_000);

  const cases = ["keyword", "vector", "hybrid"].flatMap((mode) =>
    ["document", "chunk"].map((groupBy) => ({ mode, groupBy })),
  );
  it.each(cases)(
    "pages of 10 give topK 100's results once each, in order ($mode, by $groupBy)",
    async (c) => {
      const body = { query, mode: c.mode, groupBy: c.groupBy, cache: "bypass" };
      const whole = await searchApi(ns, { ...body, topK: 100 });
      expect(whole.status).toBe(200);
      expect(whole.body.nextCursor).toBeUndefined();
      const expected = whole.body.results.map(key);
      // 130 documents and more chunks match: the ranking is as deep as a leg reads.
      expect(expected.length).toBeGreaterThanOrEqual(c.groupBy === "chunk" ? 100 : 60);
      const paged = await allPages(ns, body, 10);
      expect(paged.results.map(key)).toEqual(expected);
      expect(new Set(paged.results.map((r) => r.chunkId)).size).toBe(expected.length);
      expect(paged.pages).toBe(Math.ceil(expected.length / 10));
    },
  );

  it("pages through the result cache by position, and keeps highlights on every page", async () => {
    const body = { query, mode: "hybrid", topK: 10, highlight: true };
    const first = await searchApi(ns, body);
    const cursor = first.body.nextCursor;
    expect(cursor, JSON.stringify(first.body).slice(0, 300)).toBeDefined();
    const second = await searchApi(ns, { ...body, cursor });
    const again = await searchApi(ns, { ...body, cursor });
    expect(again.body.cache).toBe("hit");
    expect(again.body.results.map(key)).toEqual(second.body.results.map(key));
    expect(second.body.results.map(key)).not.toEqual(first.body.results.map(key));
    // A cached page still answers a cursor for the page after it.
    expect(again.body.nextCursor, "cached page's cursor").toBeDefined();
    const third = await searchApi(ns, { ...body, cursor: again.body.nextCursor });
    expect(third.status).toBe(200);
    expect(second.body.results.every((r) => (r.highlights ?? []).length > 0 && r.snippet)).toBe(true);
  });

  describe("refuses cursors that are not this search's", () => {
    const body = { query, mode: "keyword", topK: 10, cache: "bypass" };
    let cursor = "";
    beforeAll(async () => {
      cursor = (await searchApi(ns, body)).body.nextCursor ?? "";
      expect(cursor).not.toBe("");
    });

    const tampered = (c: string) => {
      const [payload = "", mac = ""] = c.split(".");
      const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/")).replace(/"o":10/, '"o":50');
      const forged = btoa(json).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      return `${forged}.${mac}`;
    };
    const hostile: [string, () => Record<string, unknown>, string][] = [
      ["garbage", () => ({ ...body, cursor: "not a cursor" }), "invalid_cursor"],
      ["truncated", () => ({ ...body, cursor: cursor.slice(0, cursor.length - 5) }), "invalid_cursor"],
      ["tampered to skip ahead", () => ({ ...body, cursor: tampered(cursor) }), "invalid_cursor"],
      ["for another query", () => ({ ...body, query: "comet tail", cursor }), "invalid_cursor"],
      ["with topK changed", () => ({ ...body, topK: 20, cursor }), "invalid_cursor"],
      ["with the mode changed", () => ({ ...body, mode: "hybrid", cursor }), "invalid_cursor"],
      ["with a filter added", () => ({ ...body, filter: { category: "x" }, cursor }), "invalid_cursor"],
      ["oversized", () => ({ ...body, cursor: `${cursor}${"A".repeat(600)}` }), "validation_failed"],
    ];
    it.each(hostile)("refuses a cursor %s with a 400", async (_name, request, code) => {
      const res = await searchApi(ns, request());
      expect(problem(res)).toEqual({ status: 400, type: "application/problem+json", code });
    });

    it("refuses a cursor from another namespace with a 400", async () => {
      const other = freshNamespace("pg-other");
      const res = await searchApi(other, { ...body, cursor });
      expect(problem(res)).toEqual({ status: 400, type: "application/problem+json", code: "invalid_cursor" });
    });
  });
});

describe("a stale cursor", () => {
  const ns = freshNamespace("pg-stale");

  beforeAll(async () => {
    const docs = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, text: `comet sighting ${i}` }));
    await api("POST", `/v1/namespaces/${ns}/documents`, { documents: docs });
    await waitIndexed(ns, 12);
  });

  it("is refused with a 410 once the namespace is written, telling the client to search again", async () => {
    const body = { query: "comet", mode: "keyword", topK: 5, cache: "bypass" };
    const first = await searchApi(ns, body);
    const cursor = first.body.nextCursor;
    expect((await searchApi(ns, { ...body, cursor })).status).toBe(200);
    const put = await api("PUT", `/v1/namespaces/${ns}/documents/s99`, { text: "comet tail" });
    expect(put.status).toBe(202);
    await waitIndexed(ns, 13);
    const res = await searchApi(ns, { ...body, cursor });
    expect(problem(res)).toEqual({ status: 410, type: "application/problem+json", code: "cursor_stale" });
    const refused = res.body as unknown as { detail: string; reason: string };
    expect(refused.detail).toMatch(/search again without a cursor/);
    expect(refused.reason).toBe("written");
  });
});

describe("a ranking whose best chunks belong to a few documents", () => {
  const ns = freshNamespace("pg-few");

  beforeAll(async () => {
    const long = Array.from({ length: 3 }, (_, i) => ({
      id: `long${i}`,
      text: Array.from({ length: 400 }, (_, s) => `comet comet ${s % 3 ? "comet" : "orbit"} ${i}.`).join(" "),
    }));
    const short = Array.from({ length: 20 }, (_, i) => ({
      id: `short${i}`,
      text: `a comet seen ${i} nights ago`,
    }));
    await api("POST", `/v1/namespaces/${ns}/documents`, { documents: [...long, ...short] });
    await waitIndexed(ns, 23);
    await waitFor("the short documents' vectors", async () => {
      const res = await searchApi(ns, {
        query: "nights ago",
        mode: "vector",
        groupBy: "chunk",
        cache: "bypass",
      });
      return res.body.results.filter((r) => r.id.startsWith("short")).length === 10;
    });
    await new Promise((r) => setTimeout(r, 1500));
  }, 60_000);

  it("fills the first page by document and pages on, as topK 100 ranks them", async () => {
    const body = { query: "comet", mode: "vector", groupBy: "document", cache: "bypass" };
    const whole = await searchApi(ns, { ...body, topK: 100 });
    expect(whole.body.results.length).toBe(23);
    const first = await searchApi(ns, { ...body, topK: 10 });
    expect(first.body.results.map(key)).toEqual(whole.body.results.slice(0, 10).map(key));
    expect((await allPages(ns, body, 10)).results.map(key)).toEqual(whole.body.results.map(key));
  });
});

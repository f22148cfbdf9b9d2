// Prefix (as-you-type) search through the API: with `prefix: true` the query's last word matches
// every word that starts with it, compared with the index's stemmed terms; a last word of one or
// two letters is matched as a whole word; highlights mark the words the prefix found; a cursor or a cached
// answer of a prefix search serves only that search; queries without a word and empty namespaces
// answer no results.
import { beforeAll, describe, expect, it } from "vitest";
import { api, freshNamespace, writeIndexed } from "../support";
import { type SearchBody, searchApi } from "../support/search";

const DOCS = [
  { id: "leaf", title: "Leaves", text: "Photosynthesis turns light into sugar in the leaves." },
  { id: "vitd", title: "Vitamins", text: "Vitamin D is made in the skin under sunlight." },
  { id: "dose", title: "Dosage", text: "A daily dosage of vitamin tablets." },
  { id: "run", title: "Running", text: "Runners keep running through the park." },
  ...Array.from({ length: 12 }, (_, i) => ({
    id: `chloro${String(i).padStart(2, "0")}`,
    text: `Chloroplasts hold chlorophyll, note ${i}.${" chlorophyll".repeat(i % 4)}`,
  })),
];

type Result = SearchBody["results"][number];
const ids = (res: { body: SearchBody }) => res.body.results.map((r) => r.id).sort();
const marked = (r: Result | undefined) => (r?.highlights ?? []).map((h) => r?.snippet?.slice(h.start, h.end));

describe("prefix search", () => {
  const ns = freshNamespace("prefix");
  const keyword = (body: Record<string, unknown>) =>
    searchApi(ns, { mode: "keyword", cache: "bypass", ...body });

  beforeAll(async () => {
    await writeIndexed(ns, DOCS);
  });

  it("finds a word from its first letters, which the same query without prefix does not", async () => {
    const whole = await keyword({ query: "how plants photosynth" });
    expect(whole.status).toBe(200);
    expect(whole.body.results).toEqual([]);
    const prefixed = await keyword({ query: "how plants photosynth", prefix: true });
    expect(prefixed.status).toBe(200);
    expect(ids(prefixed)).toEqual(["leaf"]);
  });

  it("matches a whole typed word against its stem, and only the last word as a prefix", async () => {
    // "photosynthesis" is stored as its stem "photosynthesi": the typed word still finds it.
    expect(ids(await keyword({ query: "photosynthesis", prefix: true }))).toEqual(["leaf"]);
    // "photosynth" is not the last word: it stays a whole word and matches nothing.
    expect(ids(await keyword({ query: "photosynth sugar", prefix: true }))).toEqual(["leaf"]);
    expect(ids(await keyword({ query: "photosynth vitam", prefix: true }))).toEqual(["dose", "vitd"]);
  });

  it("ignores punctuation after the last word", async () => {
    const res = await keyword({ query: "photosynth?! ...", prefix: true });
    expect(ids(res)).toEqual(["leaf"]);
  });

  it("matches a last word of one or two letters as a whole word, not as a prefix", async () => {
    const res = await keyword({ query: "d", prefix: true });
    expect(res.status).toBe(200);
    // "D" is a word of "vitd"; "daily" and "dosage" do not count.
    expect(ids(res)).toEqual(["vitd"]);
    expect(ids(await keyword({ query: "do", prefix: true }))).toEqual([]);
    expect(ids(await keyword({ query: "dos", prefix: true }))).toEqual(["dose"]);
  });

  it("answers no results for a query without a word, and for an empty namespace", async () => {
    const punctuation = await keyword({ query: "?! ... *", prefix: true });
    expect(punctuation.status).toBe(200);
    expect(punctuation.body.results).toEqual([]);
    for (const mode of ["keyword", "hybrid"]) {
      const empty = await searchApi(freshNamespace("prefix-empty"), {
        query: "photosynth",
        mode,
        prefix: true,
        cache: "bypass",
      });
      expect(empty.status).toBe(200);
      expect(empty.body.results).toEqual([]);
    }
  });

  it("marks the words the prefix matched in highlights", async () => {
    const res = await keyword({
      query: "sugar photosynth",
      prefix: true,
      highlight: { preTag: "[", postTag: "]" },
    });
    const leaf = res.body.results.find((r) => r.id === "leaf");
    expect(marked(leaf)).toEqual(["Photosynthesis", "sugar"]);
    expect(leaf?.snippetHtml).toBe("[Photosynthesis] turns light into [sugar] in the leaves.");
    const runs = await keyword({ query: "runn", prefix: true, highlight: true });
    // "runn" finds the stem "runner", not "run" (the stem of "running").
    expect(marked(runs.body.results[0])).toEqual(["Runners"]);
  });

  it("is refused with a non-boolean prefix as problem+json", async () => {
    const res = await keyword({ query: "photosynth", prefix: "yes" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect((res.body as unknown as { field: string }).field).toBe("body.prefix");
  });

  it("is not answered from an answer cached for the same query without prefix", async () => {
    const cached = (body: Record<string, unknown>) =>
      searchApi(ns, { mode: "keyword", query: "chloroplast photosynth", ...body });
    // Answers are cached only once the namespace's last write has settled (1 s locally).
    await new Promise((r) => setTimeout(r, 1100));
    await cached({});
    const hit = await cached({});
    expect(hit.body.cache).toBe("hit");
    expect(ids(hit)).not.toContain("leaf");
    const prefixed = await cached({ prefix: true });
    expect(prefixed.body.cache).toBe("miss");
    expect(ids(prefixed)).toContain("leaf");
  });

  it("is described in the OpenAPI document", async () => {
    type Spec = { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
    const spec = await api<Spec>("GET", "/openapi.json");
    expect(spec.body.components.schemas.SearchRequest?.properties.prefix).toMatchObject({
      type: "boolean",
      default: false,
      description: expect.stringContaining("fewer than 3 characters"),
    });
  });

  describe("cursors", () => {
    const body = { query: "chloro", mode: "keyword", topK: 5, cache: "bypass" };

    it("page a prefix search, and only a prefix search", async () => {
      const first = await searchApi(ns, { ...body, prefix: true });
      expect(first.body.results).toHaveLength(5);
      const cursor = first.body.nextCursor;
      expect(cursor).toBeDefined();
      const second = await searchApi(ns, { ...body, prefix: true, cursor });
      expect(second.status).toBe(200);
      expect(second.body.results).toHaveLength(5);
      const seen = new Set([...ids(first), ...ids(second)]);
      expect(seen.size).toBe(10);
      expect([...seen].every((id) => id.startsWith("chloro"))).toBe(true);

      const plain = await searchApi(ns, { ...body, cursor });
      expect(plain.status).toBe(400);
      expect((plain.body as unknown as { code: string }).code).toBe("invalid_cursor");
      const explicitFalse = await searchApi(ns, { ...body, prefix: false, cursor });
      expect(explicitFalse.status).toBe(400);
    });

    it("of a search without prefix do not page the prefix search", async () => {
      const plain = await searchApi(ns, { ...body, query: "chlorophyll" });
      const cursor = plain.body.nextCursor;
      expect(cursor).toBeDefined();
      const res = await searchApi(ns, { ...body, query: "chlorophyll", prefix: true, cursor });
      expect(res.status).toBe(400);
      expect((res.body as unknown as { code: string }).code).toBe("invalid_cursor");
    });
  });
});

// Snippets and highlights through the search API: every mode marks the words the keyword index
// matches (stemmed), with or without the text; the HTML form escapes the document; the result
// cache never answers a highlighted request with an answer computed without highlights; bad
// options are refused as problem+json.
import { beforeAll, describe, expect, it } from "vitest";
import { freshNamespace, writeIndexed } from "../support";
import { type SearchBody, searchApi, waitVectorsApplied } from "../support/search";

const OTTER =
  "Sea otters are social animals. While sleeping, sea otters hold hands so they do not drift apart; " +
  "a group of resting otters is called a raft. Otters also keep a favourite rock for cracking shells.";
const BREAD = "Sourdough bread rises with wild yeast. <b>Knead</b> the dough & let it rest overnight.";
const DOCS = [
  { id: "otter", text: OTTER },
  { id: "bread", text: BREAD },
];

type Result = SearchBody["results"][number];
const marked = (r: Result) => (r.highlights ?? []).map((h) => r.snippet?.slice(h.start, h.end));

describe("search highlights", () => {
  const ns = freshNamespace("hl");
  const search = (body: Record<string, unknown>) => searchApi(ns, { cache: "bypass", ...body });

  beforeAll(async () => {
    await writeIndexed(ns, DOCS);
    await waitVectorsApplied(ns, "otters sleep", 2);
  });

  it.each(["keyword", "vector", "hybrid"])("marks stemmed query words in %s mode", async (mode) => {
    const res = await search({ query: "otter sleeps", mode, highlight: { snippetLength: 80 } });
    expect(res.status).toBe(200);
    const otter = res.body.results.find((r) => r.id === "otter");
    expect(otter?.snippet?.length).toBeLessThanOrEqual(80);
    expect(OTTER).toContain(otter?.snippet);
    expect(marked(otter as Result)).toEqual(expect.arrayContaining(["otters", "sleeping"]));
    expect(marked(otter as Result).every((w) => /^(otters|sleeping|Otters)$/.test(w ?? ""))).toBe(true);
  });

  it("gives a vector result without a query word its opening passage and no highlights", async () => {
    const res = await search({ query: "otter sleeps", mode: "vector", highlight: { snippetLength: 40 } });
    const bread = res.body.results.find((r) => r.id === "bread");
    expect(bread?.snippet).toBe("Sourdough bread rises with wild yeast.");
    expect(bread?.highlights).toEqual([]);
    expect(bread?.snippetTruncated).toEqual({ start: false, end: true });
  });

  it("snippets without the text when includeText is false, and adds nothing unless asked", async () => {
    const res = await search({ query: "yeast", mode: "keyword", includeText: false, highlight: true });
    expect(res.body.results[0]?.text).toBeUndefined();
    expect(marked(res.body.results[0] as Result)).toEqual(["yeast"]);
    const plain = await search({ query: "yeast", mode: "keyword" });
    expect(Object.keys(plain.body.results[0] ?? {})).not.toContain("snippet");
  });

  it("escapes the document in snippetHtml and puts the tags around matches", async () => {
    const res = await search({
      query: "knead dough",
      mode: "keyword",
      highlight: { preTag: "<em>", postTag: "</em>" },
    });
    expect(res.body.results[0]?.snippetHtml).toBe(
      "Sourdough bread rises with wild yeast. &lt;b&gt;<em>Knead</em>&lt;/b&gt; the <em>dough</em> &amp; let it rest overnight.",
    );
  });

  it("does not answer a highlighted request from an answer cached without highlights", async () => {
    const cached = (body: Record<string, unknown>) =>
      searchApi(ns, { mode: "keyword", query: "raft", ...body });
    // Answers are cached only once the namespace's last write has settled (1 s locally).
    await new Promise((r) => setTimeout(r, 1100));
    await cached({});
    expect((await cached({})).body.cache).toBe("hit");
    const highlighted = await cached({ highlight: true });
    expect(highlighted.body.cache).toBe("miss");
    expect(marked(highlighted.body.results[0] as Result)).toEqual(["raft"]);
    const otherTags = await cached({ highlight: { preTag: "<i>" } });
    expect(otherTags.body.cache).toBe("miss");
    expect(otherTags.body.results[0]?.snippetHtml).toContain("<i>raft</mark>");
  });

  it.each([
    [{ snippetLength: 100_000 }, "body.highlight.snippetLength"],
    [{ snippetLength: 5 }, "body.highlight.snippetLength"],
    [{ preTag: "<b\u0000>" }, "body.highlight.preTag"],
    [{ postTag: "\u202e</b>" }, "body.highlight.postTag"],
    [{ preTag: "x".repeat(65) }, "body.highlight.preTag"],
    [{ color: "red" }, "body.highlight"],
  ])("refuses %j as problem+json", async (highlight, field) => {
    const res = await search({ query: "otter", highlight });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect((res.body as unknown as { field: string }).field).toBe(field);
  });
});

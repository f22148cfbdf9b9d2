import { describe, expect, it } from "vitest";
import { createEmbedder } from "../../src/embed/create";
import { LocalEmbedder, porterStem } from "../../src/embed/local";
import { WorkersAiEmbedder } from "../../src/embed/workers-ai";
import { AppError } from "../../src/errors";
import { createFakeAi } from "../fakes/fake-ai";

const MODEL = "@cf/baai/bge-base-en-v1.5";
const embedder = () => new LocalEmbedder({ model: MODEL, dimensions: 768 });

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

async function scores(query: string, docs: string[]): Promise<number[]> {
  const e = embedder();
  const [q] = await e.embed([query], "query");
  const d = await e.embed(docs, "document");
  if (q === undefined) throw new Error("no query vector");
  return d.map((v) => cosine(q, v));
}

describe("LocalEmbedder", () => {
  it("embeds the same text to the same vector, across calls and instances", async () => {
    const text = "Vitamin D supplementation lowers the risk of fractures in older adults.";
    const [a] = await embedder().embed([text], "document");
    const [b] = await embedder().embed([text], "document");
    const [c] = await embedder()
      .embed(["something else entirely", text], "document")
      .then((v) => v.slice(1));
    expect(a).toEqual(b);
    expect(a).toEqual(c);
  });

  it("returns finite unit-length vectors of the configured dimensions", async () => {
    for (const dimensions of [384, 768, 1024]) {
      const e = new LocalEmbedder({ model: MODEL, dimensions });
      const vectors = await e.embed(
        ["short", "a much longer text about proteins, cells and genes ".repeat(40)],
        "document",
      );
      for (const v of vectors) {
        expect(v).toHaveLength(dimensions);
        expect(v.every(Number.isFinite)).toBe(true);
        expect(Math.sqrt(v.reduce((s, x) => s + x * x, 0))).toBeCloseTo(1, 5);
      }
    }
  });

  it("ranks a document that shares words with the query above one that shares none", async () => {
    const [shared, unrelated] = await scores("insulin resistance in obese patients", [
      "Obesity is associated with insulin resistance and type 2 diabetes.",
      "The telescope observed a distant galaxy cluster emitting radio waves.",
    ]);
    expect(shared).toBeGreaterThan((unrelated ?? 0) + 0.1);
  });

  it("ranks documents by how much of the query they cover", async () => {
    const [both, one, none] = await scores("aspirin stroke prevention", [
      "Aspirin reduces stroke risk.",
      "Aspirin relieves headaches.",
      "Coral reefs bleach in warm water.",
    ]);
    expect(both).toBeGreaterThan(one ?? 0);
    expect(one).toBeGreaterThan(none ?? 0);
  });

  it("matches inflected forms: running and runs embed alike, and case does not matter", async () => {
    const e = embedder();
    const [running, runs, run, upper] = await e.embed(["running", "runs", "run", "RUNS"], "query");
    expect(running).toEqual(run);
    expect(runs).toEqual(run);
    expect(upper).toEqual(run);
    expect(porterStem("generalizations")).toBe(porterStem("generalization"));
    expect(porterStem("connected")).toBe(porterStem("connecting"));
  });

  it("gives no similarity for stopwords alone", async () => {
    const [stopQuery] = await scores("what is the of it to them", [
      "What is known of the protein and its role?",
    ]);
    expect(stopQuery).toBe(0);
    const e = embedder();
    const [plain, padded] = await e.embed(
      ["caffeine disrupts sleep", "The caffeine, it disrupts all of their sleep."],
      "document",
    );
    expect(padded).toEqual(plain);
  });

  it("matches hyphenated codes written with or without the hyphen", async () => {
    const [joined, other] = await scores("covid19 vaccine efficacy", [
      "Efficacy of vaccines against COVID-19 in adults.",
      "Efficacy of vaccines against measles in adults.",
    ]);
    expect(joined).toBeGreaterThan(other ?? 0);
  });

  it("matches words outside ASCII", async () => {
    const [zurich, other] = await scores("Zürich", [
      "Studies from Zürich hospitals",
      "Studies from Geneva hospitals",
    ]);
    expect(zurich).toBeGreaterThan((other ?? 0) + 0.1);
  });

  it("gives texts without words one shared, non-zero direction orthogonal to every other text", async () => {
    const e = embedder();
    const [empty, blank, punctuation, stopwords, words] = await e.embed(
      ["", "   \n", "?!, ...", "the and of", "protein folding"],
      "document",
    );
    for (const v of [empty, blank, punctuation, stopwords]) {
      expect(v).toEqual(empty);
      expect(v?.some((x) => x !== 0)).toBe(true);
    }
    if (empty === undefined || words === undefined) throw new Error("missing vectors");
    expect(cosine(empty, words)).toBe(0);
  });

  it("returns one vector per text, in input order", async () => {
    const e = embedder();
    const input = ["gene expression", "", "kidney", "gene expression in the kidney"];
    const batch = await e.embed(input, "document");
    expect(batch).toHaveLength(4);
    for (const [i, text] of input.entries()) expect(batch[i]).toEqual(e.embedOne(text, "document"));
    expect(batch[0]).not.toEqual(batch[2]);
  });

  it("rejects dimensions it cannot fill", () => {
    expect(() => new LocalEmbedder({ model: MODEL, dimensions: 2 })).toThrow(AppError);
  });
});

describe("createEmbedder", () => {
  it("builds the local embedder with the model's dimensions and input limit", () => {
    const e = createEmbedder({ backend: "local", ai: createFakeAi(), model: "@cf/baai/bge-small-en-v1.5" });
    expect(e).toBeInstanceOf(LocalEmbedder);
    expect([e.model, e.dimensions, e.maxInputTokens]).toEqual(["@cf/baai/bge-small-en-v1.5", 384, 512]);
  });

  it("builds the Workers AI embedder, which calls the binding with the requested pooling", async () => {
    const ai = createFakeAi();
    const e = createEmbedder({ backend: "cloudflare", ai, model: MODEL, pooling: "mean" });
    expect(e).toBeInstanceOf(WorkersAiEmbedder);
    expect(e.dimensions).toBe(768);
    await e.embed(["x"], "document");
    expect(ai.calls[0]?.pooling).toBe("mean");
  });

  it("refuses an unsupported model for either backend", () => {
    for (const backend of ["local", "cloudflare"] as const) {
      expect(() => createEmbedder({ backend, ai: createFakeAi(), model: "@cf/nope" })).toThrow(/supported/);
    }
  });
});

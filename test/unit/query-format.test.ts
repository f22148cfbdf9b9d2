// Query formatting per model: BGE queries carry BAAI's retrieval instruction, documents never do,
// and the configured override replaces it.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { createEmbedder } from "../../src/embed/create";
import { EMBEDDING_MODELS } from "../../src/embed/embedder";
import { BGE_QUERY_INSTRUCTION, queryInstructionFor } from "../../src/embed/query-format";
import { WorkersAiEmbedder } from "../../src/embed/workers-ai";
import { createFakeAi } from "../fakes/fake-ai";

const INSTRUCTION = "Represent this sentence for searching relevant passages: ";

describe("query formatting", () => {
  it.each(Object.keys(EMBEDDING_MODELS))("prefixes %s queries, never its documents", async (model) => {
    const ai = createFakeAi();
    const embedder = new WorkersAiEmbedder({ ai, model });
    await embedder.embed(["Represent this sentence", "aspirin lowers stroke risk"], "document");
    await embedder.embed(["does aspirin prevent stroke"], "query");
    expect(ai.calls.map((c) => c.text)).toEqual([
      ["Represent this sentence", "aspirin lowers stroke risk"],
      [`${INSTRUCTION}does aspirin prevent stroke`],
    ]);
  });

  it("uses the configured instruction instead, or none when it is empty", async () => {
    const ai = createFakeAi();
    const custom = createEmbedder({
      backend: "cloudflare",
      ai,
      model: "@cf/baai/bge-small-en-v1.5",
      queryInstruction: "query: ",
    });
    const none = createEmbedder({
      backend: "cloudflare",
      ai,
      model: "@cf/baai/bge-small-en-v1.5",
      queryInstruction: "",
    });
    await custom.embed(["q"], "query");
    await custom.embed(["d"], "document");
    await none.embed(["q"], "query");
    expect(ai.calls.map((c) => c.text)).toEqual([["query: q"], ["d"], ["q"]]);
  });

  it("knows BAAI's instruction for every BGE v1.5 model and none for models it does not list", () => {
    expect(BGE_QUERY_INSTRUCTION).toBe(INSTRUCTION);
    for (const model of Object.keys(EMBEDDING_MODELS)) expect(queryInstructionFor(model)).toBe(INSTRUCTION);
    expect(queryInstructionFor("@cf/some/other-model")).toBe("");
    expect(queryInstructionFor("@cf/baai/bge-base-en-v1.5", "")).toBe("");
  });

  it("reads the override from EMBEDDING_QUERY_INSTRUCTION, keeping an empty value", () => {
    expect(loadConfig({}).embeddingQueryInstruction).toBeUndefined();
    expect(loadConfig({ EMBEDDING_QUERY_INSTRUCTION: "" }).embeddingQueryInstruction).toBe("");
    expect(loadConfig({ EMBEDDING_QUERY_INSTRUCTION: "query: " }).embeddingQueryInstruction).toBe("query: ");
  });
});

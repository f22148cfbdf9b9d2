// The SciFact subset of test/fixtures/scifact as documents and golden queries, for tests that
// need queries with known relevant documents.
import { parseQrels } from "../../scripts/lib/metrics.ts";
import corpusText from "../fixtures/scifact/corpus.jsonl?raw";
import qrelsText from "../fixtures/scifact/qrels-train.tsv?raw";
import queriesText from "../fixtures/scifact/queries-train.jsonl?raw";

export interface Doc {
  id: string;
  title: string;
  text: string;
}

const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

const corpus: Doc[] = lines(corpusText).map((l) => {
  const d = JSON.parse(l) as { _id: string; title: string; text: string };
  return { id: d._id, title: d.title, text: d.text };
});
const queries = new Map(
  lines(queriesText).map((l) => {
    const q = JSON.parse(l) as { _id: string; text: string };
    return [q._id, q.text] as const;
  }),
);
const qrels = parseQrels(qrelsText);

/** `count` SciFact documents and the golden queries whose relevant documents are all among them. */
export function slice(count: number): { docs: Doc[]; golden: { query: string; relevant: string[] }[] } {
  const docs = corpus.slice(0, count);
  const ids = new Set(docs.map((d) => d.id));
  const golden: { query: string; relevant: string[] }[] = [];
  for (const [queryId, judged] of qrels) {
    const relevant = [...judged.keys()];
    const text = queries.get(queryId);
    if (text && relevant.every((id) => ids.has(id))) golden.push({ query: text, relevant });
  }
  return { docs, golden };
}

#!/usr/bin/env node
// Cuts the fixed SciFact subset in test/fixtures/scifact/ that the retrieval-quality regression
// test runs on: a seeded sample of judged train queries, every document judged relevant for them,
// and seeded random distractors up to the document budget. Same source, options and seed give
// byte-identical files. `node scripts/make-scifact-subset.ts --source DIR`; see --help.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { isEntryPoint, parseCommandLine, positiveInt, run, ScriptError, UsageError } from "./lib/args.ts";
import { parseQrels } from "./lib/metrics.ts";
import { seededRandom } from "./lib/random.ts";

const USAGE = `Usage: node scripts/make-scifact-subset.ts --source DIR [options]

DIR is the BEIR SciFact folder (corpus.jsonl, queries-train.jsonl, qrels-train.tsv).

Options:
  --source DIR     SciFact in BEIR format (required)
  --out DIR        where to write the subset (default: test/fixtures/scifact)
  --queries N      judged train queries to keep (default: 150)
  --documents N    documents in the subset, relevant ones included (default: 750)
  --seed N         seed of the sampling (default: 20201)
  -h, --help       show this help`;

/**
 * Fisher-Yates over a copy, driven by `random`.
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
}

/**
 * Picks the subset: `queryCount` judged queries (sampled), their relevant documents, and
 * distractors (sampled) up to `documentCount`. Everything keeps the source's order.
 */
export function selectSubset({
  corpus,
  queries,
  qrels,
  queryCount,
  documentCount,
  seed,
}: {
  corpus: Record<string, unknown>[];
  queries: Record<string, unknown>[];
  qrels: Map<string, Map<string, number>>;
  queryCount: number;
  documentCount: number;
  seed: number;
}) {
  const random = seededRandom(seed);
  const docIds = new Set(corpus.map((d) => String(d._id)));
  const queryText = new Map(queries.map((q) => [String(q._id), q.text]));
  const judged = [...qrels.keys()].filter(
    (id) =>
      typeof queryText.get(id) === "string" &&
      [...(qrels.get(id) ?? [])].some(([doc, grade]) => grade > 0 && docIds.has(doc)),
  );
  if (judged.length < queryCount) throw new ScriptError(`only ${judged.length} judged queries available`);
  const chosen = new Set(shuffled(judged, random).slice(0, queryCount));
  const relevant = new Set();
  for (const id of chosen)
    for (const [doc, grade] of qrels.get(id) ?? []) if (grade > 0 && docIds.has(doc)) relevant.add(doc);
  if (relevant.size > documentCount) {
    throw new ScriptError(
      `the chosen queries need ${relevant.size} documents, over --documents ${documentCount}`,
    );
  }
  const others = corpus.map((d) => String(d._id)).filter((id) => !relevant.has(id));
  const keep = new Set([...relevant, ...shuffled(others, random).slice(0, documentCount - relevant.size)]);
  return {
    corpus: corpus.filter((d) => keep.has(String(d._id))),
    queries: queries.filter((q) => chosen.has(String(q._id))),
    qrels: [...qrels].filter(([id]) => chosen.has(id)),
    relevant: relevant.size,
  };
}

export async function main(argv: string[]) {
  const values = parseCommandLine(argv, {
    source: { type: "string" },
    out: { type: "string" },
    queries: { type: "string" },
    documents: { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const source = values.source;
  if (source === undefined) throw new UsageError("--source is required");
  const out = values.out ?? path.join("test", "fixtures", "scifact");
  const queryCount = positiveInt(values.queries, "--queries", 150);
  const documentCount = positiveInt(values.documents, "--documents", 750);
  const seed = positiveInt(values.seed, "--seed", 20201);

  const read = (name: string) => readFile(path.join(source, name), "utf8");
  const corpusText = await read("corpus.jsonl");
  const subset = selectSubset({
    corpus: jsonLines(corpusText),
    queries: jsonLines(await read("queries-train.jsonl")),
    qrels: parseQrels(await read("qrels-train.tsv")),
    queryCount,
    documentCount,
    seed,
  });

  await mkdir(out, { recursive: true });
  const lines = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");
  await writeFile(
    path.join(out, "corpus.jsonl"),
    lines(subset.corpus.map((d) => ({ _id: String(d._id), title: d.title ?? "", text: d.text ?? "" }))),
  );
  await writeFile(
    path.join(out, "queries-train.jsonl"),
    lines(subset.queries.map((q) => ({ _id: String(q._id), text: q.text }))),
  );
  const qrelRows = subset.qrels.flatMap(([id, grades]) =>
    [...grades].map(([doc, grade]) => `${id}\t${doc}\t${grade}`),
  );
  await writeFile(path.join(out, "qrels-train.tsv"), `query-id\tcorpus-id\tscore\n${qrelRows.join("\n")}\n`);
  const sourceHash = createHash("sha256").update(corpusText).digest("hex");
  await writeFile(
    path.join(out, "README.md"),
    readme({ ...subset, queryCount, documentCount, seed, sourceHash, qrelCount: qrelRows.length }),
  );
  console.log(
    `Wrote ${subset.corpus.length} documents (${subset.relevant} judged relevant), ` +
      `${subset.queries.length} queries and ${qrelRows.length} judgments to ${out}`,
  );
  return 0;
}

function readme(s: {
  corpus: unknown[];
  relevant: number;
  queryCount: number;
  documentCount: number;
  seed: number;
  sourceHash: string;
  qrelCount: number;
}) {
  return `# SciFact subset (BEIR format)

A fixed slice of SciFact for the retrieval-quality regression test (\`test/quality/scifact.test.ts\`):
${s.queryCount} train queries, the ${s.relevant} documents judged relevant for them, and
${s.documentCount - s.relevant} randomly drawn distractors, ${s.corpus.length} documents in all.

| file | contents |
| --- | --- |
| corpus.jsonl | ${s.corpus.length} abstracts: \`{"_id", "title", "text"}\` |
| queries-train.jsonl | ${s.queryCount} claims: \`{"_id", "text"}\` |
| qrels-train.tsv | ${s.qrelCount} relevance judgments: \`query-id  corpus-id  score\` |
| baseline.json | the figures the regression test holds each search mode to |

It is a valid BEIR folder, so \`npm run eval -- --dataset test/fixtures/scifact\` runs on it too.
Scores on it are higher than on the full corpus (the distractors are random, not hard negatives)
and are only comparable with each other.

## How it was made

\`\`\`sh
node scripts/make-scifact-subset.ts --source <SciFact in BEIR format> \\
  --queries ${s.queryCount} --documents ${s.documentCount} --seed ${s.seed}
\`\`\`

from the BEIR SciFact files (corpus.jsonl sha256 \`${s.sourceHash}\`). Queries are sampled
among the train queries with at least one relevant document, distractors among the other
documents, both with a seeded PRNG (mulberry32); files keep the source's order. The same source,
options and seed give identical files.

## Updating the baseline

After a change that moves retrieval quality on purpose, run the test, read the figures it prints
(\`scifact-quality {...}\`) and write them into baseline.json in the same change, saying why.

## Source and license

SciFact: Wadden et al., "Fact or Fiction: Verifying Scientific Claims", EMNLP 2020
(github.com/allenai/scifact), as distributed in the BEIR benchmark (Thakur et al., "BEIR: A
Heterogeneous Benchmark for Zero-shot Evaluation of Information Retrieval Models", NeurIPS 2021
Datasets and Benchmarks). The claims (queries) are licensed CC BY 4.0; the abstracts (corpus) come
from S2ORC and are licensed ODC-By 1.0. This subset keeps the text unchanged and drops nothing but
the empty \`metadata\` fields.
`;
}

if (isEntryPoint(import.meta.url)) {
  process.exitCode = await run(main, USAGE);
}

// `node scripts/bench/index-micro.ts`: the local vector index's search engine on one core, without
// workerd. Bundles src/vectors/engine/ with esbuild into a temporary folder, generates seeded
// clustered unit vectors, and measures queries/s of the int8 scan + exact rescoring with the
// WebAssembly SIMD kernel and with the JS kernel, of exact float32 search, recall@10 against exact
// search, and the memory an object holds per vector. Prints a table and writes JSON to bench-results/.
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import type * as EngineModule from "../../src/vectors/engine/index.ts";
import { parseCommandLine, positiveInt, run, UsageError } from "../lib/args.ts";
import { seededRandom } from "../lib/random.ts";
import { importBundled } from "./node-bundle.ts";

type Engine = typeof EngineModule;
type RunKind = "wasm" | "wasmSqliteRescore" | "wasmScanOnly" | "js" | "exact";
type Throughput = ReturnType<typeof throughput>;

import { table, writeJson } from "./report.ts";

const USAGE = `Usage: node scripts/bench/index-micro.ts [options]

Measures the local index engine on one core: int8 scan (WebAssembly SIMD and JS kernels) with exact
rescoring, exact float32 search, recall@10 against exact search, and memory per vector.

Options:
  --sizes LIST      datasets as COUNTxDIMS, comma-separated (default: 100000x384,100000x768)
  --queries N       distinct queries, also the recall sample (default: 100)
  --seconds S       measured time per kernel and dataset (default: 3)
  --top-k N         results per query (default: 10)
  --noise X         offset of a vector from its cluster centre, as a norm (default: 0.9; smaller is
                    tighter clusters, closer scores, harder for quantization)
  --no-sqlite       skip the run that rescores from SQLite (node:sqlite), as the index object does
  --json PATH       where to write the JSON (default: bench-results/index-micro-<timestamp>.json)
  -h, --help        show this help`;

const ROOT = path.join(import.meta.dirname, "..", "..");
const SEED = 20_251_125;
const CLUSTERS = 1000;
/** Candidate counts whose recall is also reported, to see the margin of the one in use. */
const SWEEP = [16, 24, 32, 48, 64, 80, 128];
const TARGET = { dataset: "100000x384", queriesPerSecond: 300, recallAt10: 0.99 };

const log = (line: string) => process.stderr.write(`${line}\n`);

/** Bundles the engine (plain TypeScript, no Workers imports) into a module Node can import. */
async function loadEngine() {
  const engine = await importBundled<Engine>(
    path.join(ROOT, "src", "vectors", "engine", "index.ts"),
    "index-micro-",
  );
  const wasm = await readFile(path.join(ROOT, "src", "vectors", "engine", "kernel.wasm"));
  return { engine, module: new WebAssembly.Module(wasm) };
}

/**
 * Unit vectors around CLUSTERS random centres (embeddings of documents on many topics): neighbours
 * are close, which is where quantization error reorders results.
 * @param noise the norm of a vector's offset from its centre (before normalizing)
 */
function clusteredSource(next: () => number, dims: number, noise: number) {
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const unit = (v: Float32Array) => {
    let s = 0;
    for (const x of v) s += x * x;
    const n = Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] = (v[i] ?? 0) / n;
    return v;
  };
  const centres = Array.from({ length: CLUSTERS }, () => unit(Float32Array.from({ length: dims }, gauss)));
  const spread = noise / Math.sqrt(dims);
  return () => {
    const centre = centres[Math.floor(next() * CLUSTERS)] ?? new Float32Array(dims);
    return unit(Float32Array.from(centre, (x) => x + gauss() * spread));
  };
}

/** A garbage collection, for memory deltas (Node exposes gc only behind a flag). */
function collectGarbage() {
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc");
  gc();
  gc();
}

function memoryNow() {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/**
 * Queries/s over `seconds` (at least one pass over the queries).
 */
function throughput(queries: Float32Array[], search: (q: Float32Array) => unknown, seconds: number) {
  for (const q of queries.slice(0, 3)) search(q);
  const start = performance.now();
  let done = 0;
  while (done < queries.length || performance.now() - start < seconds * 1000) {
    search(queries[done % queries.length] ?? new Float32Array());
    done++;
  }
  const ms = performance.now() - start;
  return { queriesPerSecond: (done * 1000) / ms, queries: done, msPerQuery: ms / done };
}

async function runDataset(
  { engine, module }: { engine: Engine; module: WebAssembly.Module },
  o: {
    count: number;
    dims: number;
    queries: number;
    seconds: number;
    topK: number;
    noise: number;
    sqlite: boolean;
  },
) {
  const label = `${o.count}x${o.dims}`;
  log(`== ${label}: generating ${o.count} clustered unit vectors (seed ${SEED})...`);
  const next = seededRandom(SEED + o.dims);
  const source = clusteredSource(next, o.dims, o.noise);
  const vectors = Array.from({ length: o.count }, source);
  const queries = Array.from({ length: o.queries }, source);
  const topK = o.topK;
  const wanted = engine.candidateCount(topK);

  log("   building the int8 store (WebAssembly kernel)...");
  // What an index object holds for a namespace: the store's buffer (codes and scales, outside the
  // JS heap) and, on the heap, the ids (fresh strings, as read from SQLite) and the id -> row map.
  const heapBefore = memoryNow();
  const wasmStore = new engine.QuantizedStore(o.dims, engine.wasmKernel(module));
  vectors.forEach((v, i) => {
    wasmStore.set(`doc-${i}`, v, undefined);
  });
  const heapBytes = memoryNow() - heapBefore;
  const heldBytes = heapBytes + wasmStore.bufferBytes;
  const ids = vectors.map((_, i) => {
    const id = wasmStore.idAt(i);
    if (id === undefined) throw new Error(`no id at row ${i}`);
    return id;
  });

  log("   building the JS-kernel store and the float32 matrix...");
  const jsStore = new engine.QuantizedStore(o.dims, engine.jsKernel());
  const matrix = new engine.VectorBlockMatrix(o.dims);
  ids.forEach((id, i) => {
    const v = vectors[i] as Float32Array;
    jsStore.set(id, v, undefined);
    matrix.set(id, v, undefined);
  });

  // Rescoring reads float32 values by id, as the index object does from SQLite; here from memory.
  let fetched = 0;
  const rowOf = (id: string) => Number(id.slice(4));
  const fromMemory = (wantedIds: readonly string[]) => {
    fetched += wantedIds.length;
    return new Map(
      wantedIds.flatMap((id) => {
        const vector = vectors[rowOf(id)];
        return vector ? [[id, vector] as const] : [];
      }),
    );
  };
  const quantizedSearch =
    (store: InstanceType<Engine["QuantizedStore"]>, fetch = fromMemory) =>
    (q: Float32Array) =>
      engine.searchStores(q, topK, [{ namespace: "", store }], undefined, fetch);
  const exactSearch = (q: Float32Array) => {
    const top = new engine.TopK<EngineModule.ScoredRow>(topK);
    matrix.search(q, top);
    return top.items;
  };

  log("   recall@10 (and by candidate count) and kernel agreement...");
  let found = 0;
  let agree = true;
  const foundBy: Record<number, number> = Object.fromEntries(SWEEP.map((c) => [c, 0]));
  fetched = 0;
  for (const [n, q] of queries.entries()) {
    const want = new Set(exactSearch(q).map((m: { id: string }) => m.id));
    const got = quantizedSearch(wasmStore)(q);
    found += got.filter((m: { id: string }) => want.has(m.id)).length;
    // Candidates come best first, so the first c of the longest list are what c would select.
    const longest = wasmStore.candidates(q, Math.max(...SWEEP));
    for (const c of SWEEP) {
      const top = engine.rescore(
        q,
        longest.slice(0, c).map((x: { row: number }) => ({ id: ids[x.row] ?? "" })),
        (x: { id: string }) => vectors[rowOf(x.id)],
        topK,
      );
      foundBy[c] = (foundBy[c] ?? 0) + top.filter((m) => want.has(m.id)).length;
    }
    if (n < 10) {
      const js = quantizedSearch(jsStore)(q);
      agree &&= JSON.stringify(js.map((m) => m.id)) === JSON.stringify(got.map((m) => m.id));
    }
  }
  // Counted over the recall pass only (the JS-kernel runs fetch too).
  const rescoredPerQuery = fetched / (queries.length + Math.min(10, queries.length));
  const recall = found / (queries.length * topK);
  const recallByCandidates = Object.fromEntries(
    SWEEP.map((c) => [c, (foundBy[c] ?? 0) / (queries.length * topK)]),
  );

  log(`   measuring (${o.seconds} s each)...`);
  const runs = {
    wasm: throughput(queries, quantizedSearch(wasmStore), o.seconds),
    js: throughput(queries.slice(0, 5), quantizedSearch(jsStore), o.seconds),
    exact: throughput(queries.slice(0, 5), exactSearch, o.seconds),
  };
  const scanOnly = throughput(queries, (q) => wasmStore.candidates(q, wanted), o.seconds);

  let sqliteRun = null;
  if (o.sqlite) {
    const fromSqlite = await sqliteFetcher(vectors, ids);
    sqliteRun = throughput(queries, quantizedSearch(wasmStore, fromSqlite.fetch), o.seconds);
    fromSqlite.close();
  }

  return {
    dataset: label,
    count: o.count,
    dims: o.dims,
    topK,
    candidates: wanted,
    rescoredPerQuery,
    recallAt10: recall,
    recallByCandidates,
    kernelsAgree: agree,
    runs: {
      ...runs,
      wasmScanOnly: scanOnly,
      ...(sqliteRun ? { wasmSqliteRescore: sqliteRun } : {}),
    } as Record<RunKind, Throughput | undefined> & { wasm: Throughput; exact: Throughput },
    memory: {
      rowBytes: wasmStore.rowBytes,
      bufferBytes: wasmStore.bufferBytes,
      heapBytes,
      heldBytes,
      heldBytesPerVector: heldBytes / o.count,
      float32BytesPerVector: o.dims * 4,
    },
  };
}

/**
 * The index object reads candidates' float32 values from SQLite to rescore them: the same query
 * on node:sqlite (in memory), for what that costs per query.
 */
async function sqliteFetcher(vectors: Float32Array[], ids: string[]) {
  process.removeAllListeners("warning"); // node:sqlite's experimental notice
  const { DatabaseSync } = await import("node:sqlite");
  log("   loading the vectors into node:sqlite...");
  const db = new DatabaseSync(":memory:");
  db.exec(
    "CREATE TABLE vectors (id TEXT PRIMARY KEY, namespace TEXT NOT NULL, vals BLOB NOT NULL, metadata TEXT)",
  );
  const insert = db.prepare("INSERT INTO vectors (id, namespace, vals) VALUES (?, '', ?)");
  db.exec("BEGIN");
  vectors.forEach((v, i) => {
    insert.run(ids[i] ?? "", new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  });
  db.exec("COMMIT");
  const select = db.prepare("SELECT id, vals FROM vectors WHERE id IN (SELECT value FROM json_each(?))");
  const fetch = (wanted: readonly string[]) => {
    const values = new Map();
    for (const r of select.all(JSON.stringify(wanted))) {
      const bytes = r.vals as Uint8Array;
      values.set(r.id, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    }
    return values;
  };
  return { fetch, close: () => db.close() };
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

export function renderIndexMicro(results: Awaited<ReturnType<typeof runDataset>>[]) {
  const kinds: [RunKind, string][] = [
    ["wasm", "int8 WebAssembly SIMD scan + exact rescoring"],
    ["wasmSqliteRescore", "same, rescoring values read from SQLite"],
    ["wasmScanOnly", "int8 WebAssembly SIMD scan alone (candidates)"],
    ["js", "int8 JS kernel scan + exact rescoring"],
    ["exact", "exact float32 search"],
  ];
  const rows = results.flatMap((r) =>
    kinds.flatMap(([key, name]) => {
      const run = r.runs[key];
      if (!run) return [];
      return [
        [
          r.dataset,
          name,
          fmt(run.queriesPerSecond),
          fmt(run.msPerQuery),
          `${(run.queriesPerSecond / r.runs.exact.queriesPerSecond).toFixed(1)}x`,
        ],
      ];
    }),
  );
  const out = ["", "Local index engine, one core (queries/s; x exact = speed-up over exact float32 search)"];
  out.push(table(["dataset", "search", "q/s", "ms/query", "x exact"], rows, 2));
  out.push(
    "",
    "Quality and memory (held = what one namespace's store retains: its buffer of codes and scales, plus ids and the id map on the heap)",
  );
  out.push(
    table(
      [
        "dataset",
        "first batch",
        "rescored/query",
        "recall@10",
        "kernels agree",
        "row bytes",
        "buffer",
        "heap",
        "held/vector",
        "held total",
        "float32/vector",
      ],
      results.map((r) => [
        r.dataset,
        String(r.candidates),
        r.rescoredPerQuery.toFixed(1),
        r.recallAt10.toFixed(4),
        r.kernelsAgree ? "yes" : "NO",
        String(r.memory.rowBytes),
        mib(r.memory.bufferBytes),
        mib(r.memory.heapBytes),
        `${r.memory.heldBytesPerVector.toFixed(0)} B`,
        mib(r.memory.heldBytes),
        `${r.memory.float32BytesPerVector} B`,
      ]),
      1,
    ),
  );
  out.push(
    "",
    `recall@${results[0]?.topK ?? 10} by candidates rescored (the engine rescores ${results[0]?.candidates ?? "?"})`,
  );
  out.push(
    table(
      ["dataset", ...SWEEP.map(String)],
      results.map((r) => [
        r.dataset,
        ...SWEEP.map((c) => (r.recallByCandidates[c] ?? Number.NaN).toFixed(4)),
      ]),
      1,
    ),
  );
  const target = results.find((r) => r.dataset === TARGET.dataset);
  if (target) {
    const qps = target.runs.wasm.queriesPerSecond;
    const met = qps >= TARGET.queriesPerSecond && target.recallAt10 >= TARGET.recallAt10;
    out.push(
      "",
      `target at ${TARGET.dataset}: >= ${TARGET.queriesPerSecond} q/s with recall@10 >= ${TARGET.recallAt10}: ` +
        `${fmt(qps)} q/s, recall ${target.recallAt10.toFixed(4)} (${met ? "met" : "NOT met"})`,
    );
  }
  return out.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    sizes: { type: "string" },
    queries: { type: "string" },
    seconds: { type: "string" },
    "top-k": { type: "string" },
    noise: { type: "string" },
    "no-sqlite": { type: "boolean" },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const sizes = (values.sizes ?? "100000x384,100000x768").split(",").map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    const count = Number(m?.[1]);
    const dims = Number(m?.[2]);
    if (!m || count < 1 || dims < 1 || dims > 1536)
      throw new UsageError(`--sizes: expected COUNTxDIMS, got ${s}`);
    return { count, dims };
  });
  const queries = positiveInt(values.queries, "--queries", 100);
  const topK = positiveInt(values["top-k"], "--top-k", 10);
  const noise = Number(values.noise ?? 0.9);
  if (!Number.isFinite(noise) || noise <= 0) throw new UsageError("--noise: expected a positive number");
  const seconds = Number(values.seconds ?? 3);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError("--seconds: expected a positive number");
  const startedAt = new Date();
  const jsonFile = path.resolve(
    values.json ??
      path.join(ROOT, "bench-results", `index-micro-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`),
  );

  const loaded = await loadEngine();
  const results = [];
  for (const size of sizes) {
    results.push(
      await runDataset(loaded, { ...size, queries, seconds, topK, noise, sqlite: !values["no-sqlite"] }),
    );
    collectGarbage();
  }
  const report = {
    version: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: {
      sizes: sizes.map((s) => `${s.count}x${s.dims}`),
      queries,
      seconds,
      topK,
      seed: SEED,
      clusters: CLUSTERS,
      noise,
    },
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      node: process.version,
      loadAvg: os.loadavg(),
    },
    target: TARGET,
    results,
  };
  await writeJson(jsonFile, report);
  console.log(renderIndexMicro(results));
  console.log(`JSON: ${path.relative(process.cwd(), jsonFile) || jsonFile}`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await run(main, USAGE);
}

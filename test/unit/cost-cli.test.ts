// `npm run cost` on a fixture bench report: the file it picks, the figures it prints, and the
// errors an operator sees for a bench without counters or a bad option.
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main, newestBench } from "../../scripts/cost.ts";
import { run, UsageError } from "../../scripts/lib/args.ts";

const FIXTURE = path.join(import.meta.dirname, "..", "fixtures", "cost", "bench-counters.json");

let printed: string[];
beforeEach(() => {
  printed = [];
  vi.spyOn(console, "log").mockImplementation((line: unknown) => {
    printed.push(String(line));
  });
});
afterEach(() => vi.restoreAllMocks());

type Estimate = {
  scenarios: { name: string; unit: string; listUsd: number; withAllowancesUsd: number }[];
  skipped: string[];
  storage: { listUsd: number; withAllowancesUsd: number };
};

async function json(argv: string[]): Promise<Estimate> {
  printed = [];
  expect(await main(["--bench", FIXTURE, "--json", ...argv])).toBe(0);
  return JSON.parse(printed.join("\n")) as Estimate;
}

describe("npm run cost", () => {
  it("prices the fixture's search and document scenarios per million, searches first", async () => {
    const result = await json(["--monthly", "1000000"]);
    expect(result.scenarios.map((s) => [s.name, s.unit])).toEqual([
      ["miss-vector", "search"],
      ["ingest", "document"],
    ]);
    const [search, ingest] = result.scenarios;
    expect(search?.listUsd).toBeCloseTo(33.20576, 8);
    expect(search?.withAllowancesUsd).toBeCloseTo(28.72, 8);
    // Per document: 1 request, 20 CPU ms, 10 rows written, 5 read, 1 Class A, 1 Class B, 3 queue
    // operations, 500 tokens (3.029 neurons), 1 data point, 1 Durable Object request.
    expect(ingest?.listUsd).toBeCloseTo(0.3 + 0.4 + 10 + 0.005 + 4.5 + 0.36 + 1.2 + 33.319 + 0.25 + 0.15, 8);
    // A million documents a month: queue operations past 1 million, neurons past 300,000.
    expect(ingest?.withAllowancesUsd).toBeCloseTo(0.8 + 30.019, 8);
    expect(result.skipped).toEqual(["hit-isolate"]);
    expect(result.storage.listUsd).toBeCloseTo(58.0185, 8);
  });

  it("prices the Durable Object calls of a document as told", async () => {
    const twice = await json(["--do-requests-per-document", "2"]);
    const none = await json(["--do-requests-per-document", "0"]);
    // Two calls a document: $0.30 per million at list; none: the search scenario is unchanged.
    expect((twice.scenarios[1]?.listUsd ?? 0) - (none.scenarios[1]?.listUsd ?? 0)).toBeCloseTo(0.3, 8);
    expect(twice.scenarios[0]?.listUsd).toBeCloseTo(none.scenarios[0]?.listUsd ?? 0, 8);
  });

  it("takes the storage inputs from the command line", async () => {
    const result = await json([
      "--documents",
      "2000000",
      "--chunks-per-document",
      "1",
      "--dimensions",
      "384",
    ]);
    // D1 7.2 GB (2.2 past 5), R2 3 GB (free), 768 million stored dimensions (758 million past 10).
    expect(result.storage.withAllowancesUsd).toBeCloseTo(2.2 * 0.75 + 758 * 0.04, 8);
  });

  it("prints a table with a row per scenario and the storage total", async () => {
    expect(await main(["--bench", FIXTURE])).toBe(0);
    const text = printed.join("\n");
    expect(text).toContain("counters measured on local at 2026-12-05T12:10:00.000Z");
    expect(text).toContain("10,000,000 operations a month");
    expect(text).toMatch(/miss-vector\s+search\s+1000\s+33\.21\s+31\.56\s+Vectorize queried dimensions/);
    expect(text).toMatch(/ingest\s+document\s+100\s+50\.48\s+/);
    expect(text).toMatch(/Vectorize stored dimensions\s+1,382,400,000\s+55\.30\s+54\.90/);
    expect(text).toMatch(/total\s+-\s+58\.02\s+54\.90/);
  });

  it("reads the newest bench-*.json of the results directory", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cost-"));
    const fixture = await readFile(FIXTURE, "utf8");
    await writeFile(path.join(dir, "bench-2026-11-01T00-00-00-000Z.json"), "{}");
    await writeFile(path.join(dir, "bench-2026-12-01T00-00-00-000Z.json"), fixture);
    await writeFile(path.join(dir, "ingest-flood-2026-12-31T00-00-00-000Z.json"), "{}");
    expect(await newestBench(dir)).toBe(path.join(dir, "bench-2026-12-01T00-00-00-000Z.json"));
    expect(await main(["--json"], dir)).toBe(0);
    expect(printed.join("\n")).toContain("bench-2026-12-01T00-00-00-000Z.json");
  });

  it("says so, exit code 1, when the bench JSON has no counters or no bench ran", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cost-"));
    const file = path.join(dir, "bench-old.json");
    await writeFile(file, JSON.stringify({ runs: [] }));
    const errors: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      errors.push(String(chunk));
      return true;
    });
    expect(await run((argv) => main(argv), "usage", ["--bench", file])).toBe(1);
    expect(errors.join("")).toContain(`${file} has no "counters"`);
    expect(await run((argv) => main(argv, path.join(dir, "empty")), "usage", [])).toBe(1);
    expect(errors.join("")).toContain("run npm run bench first");
  });

  it("refuses counters of the wrong shape and bad numbers", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cost-"));
    const file = path.join(dir, "bench-bad.json");
    const report = JSON.parse(await readFile(FIXTURE, "utf8"));
    delete report.counters.scenarios.ingest.counters.cpuMs;
    await writeFile(file, JSON.stringify(report));
    await expect(main(["--bench", file])).rejects.toThrow("counters.scenarios.ingest.counters.cpuMs");
    await expect(main(["--bench", FIXTURE, "--monthly", "0"])).rejects.toThrow(UsageError);
    await expect(main(["--bench", FIXTURE, "--embedding-model", "gpt"])).rejects.toThrow(UsageError);
  });
});

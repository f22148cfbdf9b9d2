#!/usr/bin/env node
// `npm run test:e2e`: the operations dashboard in a real browser. Serves the Worker with
// `wrangler dev --local` on 127.0.0.1:8795 (own process group, temporary state), ingests a few
// documents, runs searches, opens /v1/admin/dashboard in headless Chromium (Debian's chromium
// package; CHROMIUM_PATH overrides) with an admin key, checks that every chart drew data and that
// the page broke no rule of its Content-Security-Policy, and saves a screenshot to
// test/e2e/output/dashboard.png; then checks that /docs shows the example requests, and runs the
// operator console's flow (scripts/e2e-console.ts, screenshots in docs/console/). Before all that,
// an R2 outage drill leaves a dead letter for the console to replay: the server first runs with
// fault injection failing every R2 read, so a document written then exhausts its retries and
// lands in the dead-letter queue; the server is restarted without the faults (the outage is over)
// on the same local state. Exits non-zero on any failure; stops everything it started.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import type { MetricsReport } from "../src/observe/report.ts";
import { installSignalHandlers, runCleanups } from "./bench/processes.ts";
import { migrateLocalPool } from "./bench/server.ts";
import { runConsole } from "./e2e-console.ts";
import { devEnv, portFree, startServer, waitFor } from "./lib/dev-server.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** E2E_PORT moves it off the default, for a machine where that port is taken. */
const PORT = Number(process.env.E2E_PORT ?? 8795);
const BASE = `http://127.0.0.1:${PORT}`;
const NS = "e2e-dashboard";
/** The namespace and document the R2 outage drill dead-letters. */
const OUTAGE = { namespace: "e2e-outage", id: "tide-tables" };
/**
 * Every R2 read fails (fault injection: local backend only, src/resilience/faults.ts), with its
 * own circuit breakers (`scope`), so the drill leaves no open breaker to the server after it.
 */
const R2_OUTAGE = JSON.stringify({ r2: { error: 1, methods: ["get"] }, scope: "e2e-r2-outage" });
const SCREENSHOT = path.join(ROOT, "test", "e2e", "output", "dashboard.png");
const CHARTS = ["qps", "latency", "errors", "cache", "ingest"];

const results = { passed: 0, failed: 0 };
function check(name: string, ok: boolean, detail: string = "") {
  results[ok ? "passed" : "failed"] += 1;
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  if (!(await portFree(PORT))) throw new Error(`port ${PORT} is in use`);
  installSignalHandlers();
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgesearch-e2e-"));
  const logFile = path.join(dir, "wrangler.log");
  const env = devEnv();
  const key = `e2e-${randomBytes(24).toString("hex")}`;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let browser: Browser | undefined;
  try {
    const state = path.join(dir, "state");
    await migrateLocalPool({
      configFile: path.join(ROOT, "wrangler.toml"),
      stateDir: state,
      cwd: ROOT,
      env,
      logFile: () => logFile,
    });
    const serve = (vars: string[] = []) =>
      startServer(
        "wrangler",
        [
          "dev",
          "--local",
          "--persist-to",
          state,
          "--ip",
          "127.0.0.1",
          "--port",
          String(PORT),
          "--show-interactive-dev-session=false",
          // Its own name: wrangler's dev registry is keyed by Worker name, so another local session
          // of "edgesearch" (npm run dev, a benchmark) is not disturbed when this one stops.
          "--name",
          `edgesearch-e2e-${process.pid}`,
          // GET /__scheduled runs the cron handler (the index health check) on demand.
          "--test-scheduled",
          "--var",
          "BACKEND:local",
          "--var",
          `ADMIN_API_KEY:${key}`,
          ...vars.flatMap((v) => ["--var", v]),
        ],
        { baseUrl: BASE, env, logFile },
      );
    const call = async (method: string, p: string, body?: unknown, as = key) => {
      const res = await fetch(`${BASE}${p}`, {
        method,
        headers: { authorization: `Bearer ${as}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json: unknown = await res.json().catch(() => null);
      return { status: res.status, body: json as Record<string, unknown> | null };
    };

    // The outage drill: a document written while R2 reads fail is retried with backoff
    // (max_retries = 5 in wrangler.toml, which local queues honour), then dead-lettered.
    server = await serve(["FAULT_INJECTION:true", `FAULTS:${R2_OUTAGE}`]);
    const outageStarted = Date.now();
    const written = await call("PUT", `/v1/namespaces/${OUTAGE.namespace}/documents/${OUTAGE.id}`, {
      title: "Tide tables",
      text: "Tide tables list the times of high and low water. Spring tides follow the new moon.",
    });
    check("a document is accepted during the R2 outage", written.status === 202, `status ${written.status}`);
    const failed = await waitFor(
      "the document to be dead-lettered",
      async () => {
        const res = await call("GET", `/v1/namespaces/${OUTAGE.namespace}/documents?status=failed`);
        const docs = (res.body?.documents ?? []) as { id: string; error?: string }[];
        return docs.find((d) => d.id === OUTAGE.id);
      },
      // Six deliveries with backoff of up to 2, 4, 8, 16 and 32 s between them, then the
      // dead-letter queue's batch timeout of 5 s.
      180_000,
    );
    check(
      "GET /v1/namespaces/{ns}/documents?status=failed lists it with its reason",
      /after 6 attempts: .*R2/.test(failed?.error ?? ""),
      `${failed?.error}`,
    );
    const letters = await call("GET", "/v1/admin/dead-letters?pending=true");
    const letter = ((letters.body?.deadLetters ?? []) as { namespace: string; documentId: string }[]).find(
      (d) => d.namespace === OUTAGE.namespace && d.documentId === OUTAGE.id,
    );
    check("the dead letter is recorded", letter !== undefined, JSON.stringify(letters.body));
    console.log(`     dead-lettered after ${((Date.now() - outageStarted) / 1000).toFixed(1)} s`);
    await server.stop();
    server = undefined;
    await waitFor("the port to be free", () => portFree(PORT), 30_000);
    // The outage is over: the same state, no faults.
    server = await serve();

    const topics = [
      "solar panels turn sunlight into power",
      "tides follow the moon",
      "bees pollinate orchards",
      "glaciers carve valleys",
    ];
    const put = await call("POST", `/v1/namespaces/${NS}/documents`, {
      documents: topics.map((text, i) => ({ id: `doc-${i}`, title: `Doc ${i}`, text: `${text}. ${text}.` })),
    });
    check("ingest accepted", put.status === 202, `status ${put.status}`);
    await waitFor(
      "documents indexed",
      async () => {
        const stats = await call("GET", `/v1/namespaces/${NS}`);
        return stats.body?.documents === topics.length;
      },
      60_000,
    );
    // Answers computed within RESULT_CACHE_SETTLE_MS (1 s locally) of a write are not cached.
    await sleep(1200);
    let searches = 0;
    for (let round = 0; round < 3; round++) {
      for (const [i, query] of [
        "sunlight power",
        "moon tides",
        "orchard bees",
        "valley glaciers",
      ].entries()) {
        // The same query and mode each round: the later rounds are cache hits.
        const mode = ["hybrid", "keyword", "vector", "hybrid"][i];
        const res = await call("POST", `/v1/namespaces/${NS}/search`, { query, mode, topK: 3 });
        if (res.status === 200) searches += 1;
      }
      await sleep(300);
    }
    await call("POST", `/v1/namespaces/${NS}/search`, { query: "" });
    check("searches answered", searches === 12, `${searches}/12`);
    await waitFor(
      "metrics to be kept",
      async () => {
        const m = await call("GET", "/v1/admin/metrics?window=15m");
        const report = m.body as Partial<MetricsReport> | null;
        return (report?.namespaces?.find((n) => n.namespace === NS)?.searches ?? 0) >= 13;
      },
      20_000,
    );
    const scheduled = await fetch(`${BASE}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    check("the index health check runs", scheduled.ok, `status ${scheduled.status}`);
    const anonymous = await fetch(`${BASE}/v1/admin/dashboard`);
    check("the dashboard needs a key", anonymous.status === 401, `status ${anonymous.status}`);

    browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
    const context = await browser.newContext({
      extraHTTPHeaders: { authorization: `Bearer ${key}` },
      viewport: { width: 1280, height: 1100 },
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const res = await page.goto(`${BASE}/v1/admin/dashboard?window=15m`);
    check("the dashboard answers 200", res?.status() === 200, `status ${res?.status()}`);
    await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 });
    for (const id of CHARTS) {
      const points = Number(await page.getAttribute(`#chart-${id} svg`, "data-points"));
      const paths = await page.locator(`#chart-${id} svg path.series, #chart-${id} svg circle`).count();
      check(`chart ${id} drew its series`, points > 0 && paths > 0, `${points} points, ${paths} marks`);
    }
    const row = page.locator("#namespaces tbody tr", { hasText: NS });
    check("the namespace table lists the namespace", (await row.count()) === 1);
    const health = await row.locator("td").last().textContent();
    check("the namespace's index health is shown", health === "ok", `${health}`);
    // The scheduled run measured each pool database: every row has a size and a fill.
    const databases = await page
      .locator("#databases tbody tr")
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")),
      );
    const measured = databases.filter(([, size, fill]) => /MB$/.test(size ?? "") && /%$/.test(fill ?? ""));
    check(
      "the D1 databases table shows each pool database's size and fill",
      measured.length >= 3 && measured.length === databases.length,
      JSON.stringify(databases),
    );
    const hits = await page.locator(".tile", { hasText: "cache hit rate" }).locator("b").textContent();
    check("repeated searches show as cache hits", Number.parseFloat(hits ?? "0") > 0, `${hits}`);
    const searchesTile = await page
      .locator(".tile", { hasText: "searches" })
      .first()
      .locator("b")
      .textContent();
    check("the searches tile counts every search", Number(searchesTile) >= 13, `${searchesTile}`);
    check("no script errors or CSP violations", problems.length === 0, problems.join(" | "));
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${path.relative(ROOT, SCREENSHOT)}`);

    // /docs renders /openapi.json: every operation that takes a body shows an example request.
    const docs = await context.newPage();
    const docsProblems: string[] = [];
    docs.on("console", (m) => {
      if (m.type() === "error") docsProblems.push(m.text());
    });
    docs.on("pageerror", (e) => docsProblems.push(e.message));
    await docs.goto(`${BASE}/docs`);
    await docs.waitForSelector(".op", { timeout: 10_000 });
    const searchExample = await docs
      .locator(".op", { hasText: "/v1/namespaces/{ns}/search" })
      .locator("details.example pre")
      .textContent({ timeout: 5000 })
      .catch(() => null);
    check(
      "/docs shows the search's example request",
      /"query":/.test(searchExample ?? ""),
      `${searchExample?.replace(/\s+/g, " ")}`,
    );
    const withBody = await docs.locator("details > summary", { hasText: /^Request body/ }).count();
    const withExample = await docs.locator(".op:has(details.example)").count();
    check(
      "/docs shows an example request for each operation with a body",
      withBody > 0 && withExample === withBody,
      `${withExample} of ${withBody}`,
    );
    check("/docs: no script errors or CSP violations", docsProblems.length === 0, docsProblems.join(" | "));

    // The console: a second version to activate, then the whole flow in the browser.
    const built = await call("POST", `/v1/namespaces/${NS}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
      chunking: { maxTokens: 128, overlapTokens: 16 },
    });
    check("a second version is built", built.status === 202, `status ${built.status}`);
    await waitFor(
      "version v2 to be ready",
      async () => (await call("GET", `/v1/namespaces/${NS}/versions/v2`)).body?.state === "ready",
      60_000,
    );
    await runConsole({
      browser,
      base: BASE,
      key,
      namespace: NS,
      query: "sunlight power",
      screenshots: path.join(ROOT, "docs", "console"),
      deadLetter: OUTAGE,
      check,
      call,
    });
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await runCleanups();
    if (results.failed > 0) console.log(`wrangler log kept at ${logFile}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  check("e2e run", false, err instanceof Error ? err.message : String(err));
}
console.log(`${results.passed} passed, ${results.failed} failed`);
process.exitCode = results.failed > 0 ? 1 : 0;

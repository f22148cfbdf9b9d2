// Operations dashboard (admin role): /v1/admin/metrics answers the figures of a window as JSON;
// /v1/admin/dashboard is a self-contained page drawing the same figures as SVG charts. Both only
// show namespaces the caller's key covers. The page embeds its data (no second, unauthenticated
// fetch) and runs only its own nonce'd script and style: no CDN, nothing else loads.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { canAccessNamespace, type Principal } from "../../../src/auth/scopes";
import { readMetricsReport } from "../../../src/observe/analytics-reader";
import { WINDOWS } from "../../../src/observe/analytics-sql";
import { observeConfig } from "../../../src/observe/config";
import { COST_COUNTER_NAMES, type CostCounters } from "../../../src/observe/cost-counters";
import { ShardMapClient } from "../../../src/shards/client";
import { databaseViews, storagePolicy } from "../../../src/shards/databases";
import { readQualityCharts } from "../../../src/versions/quality";
import { requires } from "../auth";
import { errorResponses, jsonResponse } from "../schemas";
import type { AppEnv } from "../types";
import { ShardDatabaseSchema } from "./shards";

const WINDOW_NAMES = Object.keys(WINDOWS) as [keyof typeof WINDOWS, ...(keyof typeof WINDOWS)[]];

const WindowQuery = z.object({
  window: z
    .enum(WINDOW_NAMES)
    .default("1h")
    .openapi({ param: { name: "window", in: "query" }, description: "How far back to look" }),
});

const ms = z.number().nullable();
const rate = z.number().nullable();
const Cost = z
  .object(
    Object.fromEntries(COST_COUNTER_NAMES.map((name) => [name, z.number()])) as Record<
      keyof CostCounters,
      z.ZodNumber
    >,
  )
  .openapi({ description: "Cost counters summed (docs/observability.md)" });
const SummaryFields = {
  searches: z.number(),
  qps: z.number(),
  p50Ms: ms,
  p95Ms: ms,
  p99Ms: ms,
  errorRate: rate,
  clientErrorRate: rate,
  degradedRate: rate,
  cacheHitRate: rate,
  indexed: z.number(),
  ingestFailed: z.number(),
  lagP50Ms: ms,
  lagP95Ms: ms,
  searchCost: Cost,
  indexedCost: Cost,
};

export const MetricsReportSchema = z
  .object({
    window: z.string(),
    windowSeconds: z.number(),
    bucketSeconds: z.number(),
    from: z.string(),
    to: z.string(),
    source: z.enum(["local", "analytics-engine"]),
    overall: z.object(SummaryFields),
    namespaces: z.array(z.object({ namespace: z.string(), ...SummaryFields })),
    series: z.array(
      z.object({
        t: z.number(),
        searches: z.number(),
        qps: z.number(),
        p50Ms: ms,
        p95Ms: ms,
        p99Ms: ms,
        errorRate: rate,
        degradedRate: rate,
        cacheHitRate: rate,
        indexed: z.number(),
        lagP95Ms: ms,
      }),
    ),
    health: z.array(
      z.object({
        namespace: z.string(),
        state: z.string(),
        problems: z.array(z.string()),
        checkedAt: z.string(),
        /** What the last check repaired, by kind (only kinds it repaired: requeued, repairedVectors, ...). */
        repairs: z.record(z.string(), z.number()),
      }),
    ),
    /** nDCG@10 of the golden queries per version over time, from the scheduled quality watch. */
    quality: z.array(
      z.object({
        namespace: z.string(),
        version: z.string(),
        activationNdcg: z.number().nullable(),
        alerting: z.boolean(),
        points: z.array(z.object({ t: z.number(), ndcg: z.number() })),
      }),
    ),
    /** The D1 pool's databases (sizes for a key covering every namespace); null when unreadable. */
    storage: z
      .object({
        maxBytes: z.number().int(),
        fillThreshold: z.number(),
        databases: z.array(ShardDatabaseSchema),
      })
      .nullable(),
  })
  .openapi("MetricsReport");
export type MetricsReportBody = z.infer<typeof MetricsReportSchema>;

/** The repair counts of the stored findings (src/observe/index-health.ts) the dashboard shows. */
const REPAIR_KINDS = [
  "requeued",
  "abandoned",
  "replayed",
  "repairedVectors",
  "orphanVectors",
  "keywordRepairs",
  "reindexed",
  "repairsAbandoned",
] as const;

/** Version series the dashboard charts at most (raised alerts first). */
const QUALITY_CHARTS = 12;

/** The last index health findings of the namespaces the caller covers. */
async function healthOf(db: D1Database, principal: Principal): Promise<MetricsReportBody["health"]> {
  const { results } = await db
    .prepare(
      "SELECT namespace, checked_at, state, findings FROM index_health WHERE namespace != '' ORDER BY namespace",
    )
    .all<{ namespace: string; checked_at: number; state: string; findings: string }>();
  return results
    .filter((r) => canAccessNamespace(principal, r.namespace))
    .map((r) => {
      let problems: string[] = [];
      const repairs: Record<string, number> = {};
      try {
        const parsed = JSON.parse(r.findings) as Record<string, unknown>;
        if (Array.isArray(parsed.problems)) problems = parsed.problems.map(String);
        for (const kind of REPAIR_KINDS) {
          const n = parsed[kind];
          if (typeof n === "number" && n > 0) repairs[kind] = n;
        }
      } catch {
        // A row from an older layout: state only.
      }
      return {
        namespace: r.namespace,
        state: r.state,
        problems,
        checkedAt: new Date(r.checked_at).toISOString(),
        repairs,
      };
    });
}

/**
 * The pool's databases: size, fill and namespaces. The figures page still answers when the shard
 * map cannot be read (its own error is logged by the client), with the pool shown as unknown.
 */
async function storageOf(c: Context<AppEnv>): Promise<MetricsReportBody["storage"]> {
  const policy = storagePolicy(c.get("services").config);
  const seesCounts = c.get("principal").namespaces.includes("*");
  try {
    const status = await new ShardMapClient(c.env.SHARD_MAP).status();
    return {
      maxBytes: policy.maxBytes,
      fillThreshold: policy.fillThreshold,
      databases: databaseViews(status.databases, policy, seesCounts),
    };
  } catch {
    return null;
  }
}

export function registerDashboard(app: OpenAPIHono<AppEnv>) {
  const report = async (c: Context<AppEnv>, window: string) => {
    const services = c.get("services");
    const principal = c.get("principal");
    const [figures, health, quality, storage] = await Promise.all([
      readMetricsReport(
        { backend: services.config.backend, db: c.env.DB, observe: observeConfig(c.env) },
        { window, patterns: principal.namespaces },
      ),
      healthOf(c.env.DB, principal),
      readQualityCharts(c.env.DB, (ns) => canAccessNamespace(principal, ns), QUALITY_CHARTS),
      storageOf(c),
    ]);
    return { ...figures, health, quality, storage };
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/metrics",
      operationId: "getMetrics",
      middleware: requires("admin"),
      tags: ["admin"],
      summary:
        "Search and ingest figures of a window: latency quantiles, QPS, error, degraded and cache hit rates, ingest lag",
      request: { query: WindowQuery },
      responses: {
        200: jsonResponse(MetricsReportSchema, "Figures, overall, per namespace and per bucket"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { window } = c.req.valid("query");
      c.header("cache-control", "no-store");
      return c.json(await report(c, window), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dashboard",
      operationId: "getDashboard",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "The operations dashboard: the figures of /v1/admin/metrics as charts (HTML)",
      request: { query: WindowQuery },
      responses: {
        200: { content: { "text/html": { schema: z.string() } }, description: "The dashboard page" },
        ...errorResponses,
      },
    }),
    async (c) => {
      const { window } = c.req.valid("query");
      const data = await report(c, window);
      const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      c.header(
        "content-security-policy",
        `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      );
      c.header("cache-control", "no-store");
      return c.html(dashboardPage(data, nonce), 200);
    },
  );
}

/** JSON inside a <script> element: "<" escaped so no "</script>" can close it early. */
function embed(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

function dashboardPage(data: MetricsReportBody, nonce: string): string {
  const windows = WINDOW_NAMES.map(
    (w) => `<a href="?window=${w}"${w === data.window ? ' class="on"' : ""}>${w}</a>`,
  ).join(" ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgesearch dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#f6f6f7}
header{background:#f38020;color:#fff;padding:12px 24px;display:flex;align-items:baseline;gap:24px;flex-wrap:wrap}
header h1{margin:0;font-size:20px}header a{color:#fff;opacity:.75;text-decoration:none;margin-right:6px}
header a.on{opacity:1;font-weight:700;text-decoration:underline}
main{padding:16px 24px;max-width:1280px;margin:0 auto}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-bottom:16px}
.tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.tile b{display:block;font-size:20px}.tile span{color:#666;font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:12px}
figure{background:#fff;border:1px solid #ddd;border-radius:6px;margin:0;padding:8px 12px}
figcaption{font-weight:600;margin-bottom:4px}.legend{font-size:12px;color:#555}
table{border-collapse:collapse;width:100%;background:#fff;margin-top:16px;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:5px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
.k0{color:#0b5cad}.k1{color:#f38020}.k2{color:#b00020}.k3{color:#0a7d32}#range{opacity:.85}
.ok{color:#0a7d32}.warn{color:#8a5a00}.fail{color:#b00020;font-weight:700}.muted{color:#888}
</style></head><body>
<header><h1>edgesearch</h1><div>window: ${windows}</div><div id="range"></div></header>
<main><div class="tiles" id="tiles"></div><div class="charts" id="charts"></div>
<table id="namespaces"><thead><tr><th>namespace</th><th>searches</th><th>QPS</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>5xx</th><th>degraded</th><th>cache hits</th><th>indexed</th><th>failed</th><th>lag p95 ms</th><th>health</th></tr></thead><tbody></tbody></table>
<h2>D1 databases</h2>
<table id="databases"><thead><tr><th>database</th><th>size</th><th>fill</th><th>namespaces</th><th>new namespaces</th></tr></thead><tbody></tbody></table>
<h2>Billable operations per namespace (searches + indexed documents)</h2>
<table id="cost"><thead><tr></tr></thead><tbody></tbody></table>
</main>
<script type="application/json" id="report">${embed(data)}</script>
<script nonce="${nonce}">
const R = JSON.parse(document.getElementById("report").textContent);
const NS = "http://www.w3.org/2000/svg";
const fmt = (v, d = 1) => v === null || v === undefined ? "–" : Number(v).toFixed(d);
const pct = (v) => v === null || v === undefined ? "–" : (v * 100).toFixed(2) + "%";
document.getElementById("range").textContent = R.from.slice(0, 16).replace("T", " ") + " → " + R.to.slice(11, 16) + " UTC · " + R.source;
const o = R.overall;
const tiles = [["searches", o.searches], ["QPS", fmt(o.qps, 3)], ["p50 ms", fmt(o.p50Ms)], ["p95 ms", fmt(o.p95Ms)],
  ["p99 ms", fmt(o.p99Ms)], ["5xx rate", pct(o.errorRate)], ["degraded", pct(o.degradedRate)],
  ["cache hit rate", pct(o.cacheHitRate)], ["indexed", o.indexed], ["ingest lag p95 ms", fmt(o.lagP95Ms, 0)]];
for (const [label, value] of tiles) {
  const d = document.createElement("div"); d.className = "tile";
  const b = document.createElement("b"); b.textContent = value; const s = document.createElement("span"); s.textContent = label;
  d.append(b, s); document.getElementById("tiles").append(d);
}
const COLORS = ["#0b5cad", "#f38020", "#b00020", "#0a7d32"];
function el(name, attrs) { const e = document.createElementNS(NS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
function chart(id, title, lines, unit) {
  const W = 440, H = 160, L = 44, B = 20, T = 8;
  const fig = document.createElement("figure"); fig.id = "chart-" + id;
  const cap = document.createElement("figcaption"); cap.textContent = title; fig.append(cap);
  const svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": title });
  const pts = R.series; const t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 1;
  let max = 0; for (const l of lines) for (const p of pts) { const v = l.get(p); if (v !== null && v > max) max = v; }
  // Rates run from 0 to at most 100%; an empty chart still gets a scale.
  max = max <= 0 ? 1 : unit === "%" ? Math.min(1, max * 1.1) : max * 1.1;
  const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - 6);
  const y = (v) => H - B - (v / max) * (H - B - T);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(el("line", { x1: L, x2: W - 6, y1: y(v), y2: y(v), stroke: "#eee" }));
    const label = el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#888" });
    label.textContent = unit === "%" ? (v * 100).toFixed(v * 100 < 10 ? 1 : 0) : v < 10 ? v.toFixed(1) : v.toFixed(0); svg.append(label);
  }
  for (const t of [t0, t1]) {
    const label = el("text", { x: x(t), y: H - 4, "text-anchor": t === t0 ? "start" : "end", "font-size": 10, fill: "#888" });
    label.textContent = new Date(t * 1000).toISOString().slice(11, 16); svg.append(label);
  }
  let drawn = 0; const legend = document.createElement("div"); legend.className = "legend";
  lines.forEach((l, i) => {
    let d = ""; let pen = false;
    for (const p of pts) {
      const v = l.get(p);
      if (v === null || v === undefined) { pen = false; continue; }
      d += (pen ? "L" : "M") + x(p.t).toFixed(1) + " " + y(v).toFixed(1) + " "; pen = true; drawn++;
      if (l.dots) svg.append(el("circle", { cx: x(p.t), cy: y(v), r: 2.5, fill: COLORS[i] }));
    }
    if (d) svg.append(el("path", { d, fill: "none", stroke: COLORS[i], "stroke-width": 2, class: "series" }));
    const key = document.createElement("span"); key.textContent = "■ " + l.name + "  "; key.setAttribute("class", "k" + i); legend.append(key);
  });
  svg.setAttribute("data-points", String(drawn));
  fig.append(svg, legend); document.getElementById("charts").append(fig);
}
const sparse = R.series.filter((p) => p.searches > 0).length < 3;
chart("qps", "Searches per second", [{ name: "QPS", get: (p) => p.qps, dots: sparse }], "");
chart("latency", "Search latency (ms)", [
  { name: "p50", get: (p) => p.p50Ms, dots: sparse }, { name: "p95", get: (p) => p.p95Ms, dots: sparse }, { name: "p99", get: (p) => p.p99Ms, dots: sparse }], "ms");
chart("errors", "5xx and degraded rate", [
  { name: "5xx", get: (p) => p.errorRate, dots: sparse }, { name: "degraded", get: (p) => p.degradedRate, dots: sparse }], "%");
chart("cache", "Cache hit rate", [{ name: "hits", get: (p) => p.cacheHitRate, dots: sparse }], "%");
chart("ingest", "Documents indexed per bucket, and lag p95 (s)", [
  { name: "indexed", get: (p) => p.indexed || null, dots: true }, { name: "lag p95 (s)", get: (p) => p.lagP95Ms === null ? null : p.lagP95Ms / 1000, dots: true }], "");
// nDCG@10 per watched version, with its activation value (dashed): the quality drop alert fires
// when the line falls more than the gate's tolerance below it.
for (const q of R.quality) {
  const W = 440, H = 160, L = 44, B = 20, T = 8;
  const fig = document.createElement("figure"); fig.id = "quality-" + q.namespace + "-" + q.version;
  const cap = document.createElement("figcaption"); cap.textContent = "nDCG@10 " + q.namespace + " " + q.version + (q.alerting ? " (quality drop)" : "");
  if (q.alerting) { cap.className = "fail"; cap.setAttribute("role", "alert"); }
  fig.append(cap);
  const svg = el("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", role: "img", "aria-label": cap.textContent });
  const pts = q.points; const t0 = pts.length ? pts[0].t : 0, t1 = pts.length ? pts[pts.length - 1].t : 1;
  const x = (t) => L + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * (W - L - 6);
  const y = (v) => H - B - v * (H - B - T);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(el("line", { x1: L, x2: W - 6, y1: y(v), y2: y(v), stroke: "#eee" }));
    const label = el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#888" });
    label.textContent = v.toFixed(2); svg.append(label);
  }
  for (const t of pts.length ? [t0, t1] : []) {
    const label = el("text", { x: x(t), y: H - 4, "text-anchor": t === t0 ? "start" : "end", "font-size": 10, fill: "#888" });
    label.textContent = new Date(t * 1000).toISOString().slice(5, 16).replace("T", " "); svg.append(label);
  }
  if (q.activationNdcg !== null) {
    svg.append(el("line", { x1: L, x2: W - 6, y1: y(q.activationNdcg), y2: y(q.activationNdcg), stroke: COLORS[1], "stroke-dasharray": "4 3", class: "activation" }));
  }
  let d = "";
  pts.forEach((p, i) => { d += (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.ndcg).toFixed(1) + " "; svg.append(el("circle", { cx: x(p.t), cy: y(p.ndcg), r: 2.5, fill: COLORS[0] })); });
  if (d) svg.append(el("path", { d, fill: "none", stroke: COLORS[0], "stroke-width": 2, class: "series" }));
  svg.setAttribute("data-points", String(pts.length));
  const legend = document.createElement("div"); legend.className = "legend";
  legend.textContent = "■ nDCG@10  ┅ activation value " + (q.activationNdcg === null ? "(not known yet)" : q.activationNdcg.toFixed(3));
  fig.append(svg, legend); document.getElementById("charts").append(fig);
}
const health = new Map(R.health.map((h) => [h.namespace, h]));
const repaired = (h) => { const kinds = Object.entries(h.repairs || {}); return kinds.length ? "; repaired: " + kinds.map(([k, n]) => k + " " + n).join(", ") : ""; };
const tbody = document.querySelector("#namespaces tbody");
for (const n of R.namespaces) {
  const tr = document.createElement("tr");
  const h = health.get(n.namespace);
  const cells = [n.namespace, n.searches, fmt(n.qps, 3), fmt(n.p50Ms), fmt(n.p95Ms), fmt(n.p99Ms), pct(n.errorRate), pct(n.degradedRate),
    pct(n.cacheHitRate), n.indexed, n.ingestFailed, fmt(n.lagP95Ms, 0), h ? h.state + (h.problems.length ? " (" + h.problems.join(", ") + ")" : "") + repaired(h) : "not checked"];
  cells.forEach((v, i) => { const td = document.createElement("td"); td.textContent = v; if (i === 12 && h) td.className = h.state; tr.append(td); });
  tbody.append(tr);
}
const dbBody = document.querySelector("#databases tbody");
const S = R.storage;
const mb = (b) => b === null ? "–" : (b / 1e6).toFixed(1) + " MB";
if (S === null) { const tr = document.createElement("tr"); const td = document.createElement("td"); td.colSpan = 5; td.className = "muted"; td.textContent = "unavailable (shard map unreachable)"; tr.append(td); dbBody.append(tr); }
for (const d of S ? S.databases : []) {
  const tr = document.createElement("tr"); tr.dataset.database = d.database;
  const warn = d.pastFillThreshold ? "past the fill threshold (" + pct(S.fillThreshold) + "): move namespaces or add a database" : d.inPool ? "accepted" : "not in the pool";
  [d.database, mb(d.bytes), pct(d.fullness), d.namespaces ?? "–", warn].forEach((v, i) => {
    const td = document.createElement("td"); td.textContent = v;
    if (i === 4 && d.pastFillThreshold) { td.className = "fail"; td.setAttribute("role", "alert"); }
    tr.append(td);
  });
  dbBody.append(tr);
}
const COST = [["d1Queries", "D1 queries"], ["d1RowsRead", "D1 rows read"], ["d1RowsWritten", "D1 rows written"],
  ["kvReads", "KV reads"], ["kvWrites", "KV writes"], ["aiCalls", "AI calls"], ["aiInputTokens", "AI tokens"],
  ["vectorizeQueries", "Vectorize queries"], ["vectorizeQueryDimensions", "queried dims"],
  ["vectorizeVectorsWritten", "vectors written"], ["r2ClassA", "R2 class A"], ["r2ClassB", "R2 class B"], ["queueOperations", "queue ops"]];
const costHead = document.querySelector("#cost thead tr");
for (const label of ["namespace", ...COST.map((c) => c[1])]) { const th = document.createElement("th"); th.textContent = label; costHead.append(th); }
for (const n of R.namespaces) {
  const tr = document.createElement("tr");
  for (const v of [n.namespace, ...COST.map(([k]) => (n.searchCost[k] || 0) + (n.indexedCost[k] || 0))]) {
    const td = document.createElement("td"); td.textContent = v; tr.append(td);
  }
  document.querySelector("#cost tbody").append(tr);
}
document.body.setAttribute("data-ready", "true");
</script></body></html>`;
}

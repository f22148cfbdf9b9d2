#!/usr/bin/env node
// `npm run analytics -- [dashboard|alerts] [--window 1h] [--namespace NS] [--print-sql] [--json]`:
// the service's figures (latency quantiles, QPS, error, degraded and cache hit rates, ingest lag,
// overall and per namespace) and its SLO burn-rate alerts, from the Analytics Engine SQL API
// (CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN with Account Analytics: Read). `--print-sql`
// prints the queries and calls nothing. `--service` reads /v1/admin/metrics from a running
// service instead (local mode: `npm run dev`; needs an admin key, see replay-dead-letters).
// Node strips the types: the queries and the report are built by the same code as the Worker's.
import {
  alertQueries,
  type DashboardQueries,
  DEFAULT_DATASET,
  dashboardQueries,
  evaluateBurn,
  evaluateHealth,
  parseWindow,
} from "../src/observe/analytics-sql.ts";
import {
  type MetricsReport,
  type ReportWindow,
  type Row,
  reportFromSql,
  type Summary,
} from "../src/observe/report.ts";
import {
  connect,
  connectionSettings,
  createProgress,
  fixed,
  formatTable,
  isEntryPoint,
  parseCommandLine,
  run,
  ScriptError,
  UsageError,
} from "./lib/args.ts";

const NAMESPACE_PATTERN = /^(\*|[a-z0-9][a-z0-9_-]{0,62}|[a-z0-9][a-z0-9_-]{0,61}\*)$/;

const USAGE = `usage: npm run analytics -- [dashboard|alerts] [options]
  dashboard (default)   figures of a window, overall and per namespace
  alerts                evaluates the SLO burn-rate and index health alerts (docs/slo.md)
  --window W            15m, 1h (default), 6h, 24h, 3d, 7d
  --namespace NS        one namespace (prefix patterns like "acme-*" too)
  --dataset NAME        Analytics Engine dataset (default ${DEFAULT_DATASET})
  --print-sql           print the SQL and exit without calling anything
  --json                machine-readable output
  --service [--url U]   read /v1/admin/metrics from a running service instead of the SQL API
  --check               (alerts) exit 3 when an alert fires`;

async function querySql(
  sql: string,
  creds: { accountId: string; token: string },
): Promise<Record<string, unknown>[]> {
  const res = await fetch(
    `https://api.cloudflare.com/client/v4/accounts/${creds.accountId}/analytics_engine/sql`,
    { method: "POST", headers: { authorization: `Bearer ${creds.token}` }, body: sql },
  );
  const text = await res.text();
  if (!res.ok) throw new ScriptError(`SQL API answered ${res.status}: ${text.slice(0, 300)}`);
  return (JSON.parse(text) as { data?: Record<string, unknown>[] }).data ?? [];
}

function credentials() {
  const accountId = process.env.CLOUDFLARE_ACCOUNT_ID;
  const token = process.env.CLOUDFLARE_API_TOKEN;
  if (!accountId || !token) {
    throw new UsageError(
      "set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (Account Analytics: Read), use --service for a running service, or --print-sql",
    );
  }
  return { accountId, token };
}

const n = (v: unknown) => (typeof v === "number" ? v : Number(v ?? Number.NaN));
const f = (v: unknown, digits: number = 1) =>
  Number.isFinite(n(v)) && v !== null ? fixed(n(v), digits) : "-";
const pct = (v: unknown) => (Number.isFinite(n(v)) && v !== null ? `${fixed(n(v) * 100, 2)}%` : "-");

function summaryRow(s: Summary) {
  return [
    String(s.searches ?? 0),
    f(s.qps, 3),
    f(s.p50Ms),
    f(s.p95Ms),
    f(s.p99Ms),
    pct(s.errorRate),
    pct(s.degradedRate),
    pct(s.cacheHitRate),
    String(s.indexed ?? 0),
    String(s.ingestFailed ?? 0),
    f(s.lagP95Ms, 0),
  ];
}

const HEADERS = [
  "namespace",
  "searches",
  "QPS",
  "p50 ms",
  "p95 ms",
  "p99 ms",
  "5xx",
  "degraded",
  "cache hits",
  "indexed",
  "failed",
  "lag p95 ms",
];

/** Runs the dashboard queries; the rows become the report the Worker serves (one definition). */
async function reportFromApi(
  queries: DashboardQueries,
  window: ReportWindow,
  creds: { accountId: string; token: string },
): Promise<MetricsReport> {
  const names = Object.keys(queries) as (keyof DashboardQueries)[];
  const results = await Promise.all(names.map((name) => querySql(queries[name], creds)));
  const rows = Object.fromEntries(names.map((name, i) => [name, results[i] ?? []]));
  return reportFromSql(rows as Record<keyof DashboardQueries, Row[]>, window, Date.now());
}

export async function main(argv: string[]) {
  const command = argv[0] && !argv[0].startsWith("-") ? argv[0] : "dashboard";
  const rest = command === argv[0] ? argv.slice(1) : argv;
  if (command !== "dashboard" && command !== "alerts") throw new UsageError(`unknown command "${command}"`);
  const values = parseCommandLine(rest, {
    window: { type: "string" },
    namespace: { type: "string" },
    dataset: { type: "string" },
    "print-sql": { type: "boolean" },
    json: { type: "boolean" },
    service: { type: "boolean" },
    url: { type: "string" },
    check: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dataset = typeof values.dataset === "string" ? values.dataset : DEFAULT_DATASET;
  let patterns = ["*"];
  if (typeof values.namespace === "string") {
    if (!NAMESPACE_PATTERN.test(values.namespace)) {
      throw new UsageError('--namespace: a namespace name, or a name prefix followed by "*"');
    }
    patterns = [values.namespace];
  }

  if (command === "alerts") {
    const alerts = alertQueries({ dataset });
    if (values["print-sql"]) {
      for (const a of alerts) {
        console.log(
          `-- ${a.id}: ${a.kind}, ${a.severity}, ${a.windows}${a.kind === "burn-rate" ? ` at ${a.factor}x` : ""}; runbook ${a.runbook}`,
        );
        console.log(`${a.sql};\n`);
      }
      return 0;
    }
    const creds = credentials();
    const results = [];
    for (const a of alerts) {
      const rows = await querySql(a.sql, creds);
      if (a.kind === "burn-rate") results.push({ ...a, ...evaluateBurn(a, rows[0]), sql: undefined });
      else results.push({ ...a, ...evaluateHealth(a, rows), sql: undefined });
    }
    if (values.json) console.log(JSON.stringify(results, null, 2));
    else {
      console.log(
        formatTable(
          ["alert", "severity", "windows", "factor", "burn long", "burn short", "state", "runbook"],
          results.map((r) => [
            r.id,
            r.severity,
            r.windows,
            String(r.factor),
            "burnLong" in r ? fixed(r.burnLong, 2) : "-",
            "burnShort" in r ? fixed(r.burnShort, 2) : "failing" in r ? r.failing.join(",") || "-" : "-",
            r.firing ? "FIRING" : "ok",
            r.runbook,
          ]),
        ),
      );
    }
    return values.check && results.some((r) => r.firing) ? 3 : 0;
  }

  const window = parseWindowOrUsage(typeof values.window === "string" ? values.window : "1h");
  let report: MetricsReport;
  if (values.service) {
    if (values["print-sql"]) throw new UsageError("--print-sql and --service do not mix");
    const progress = createProgress();
    const client = await connect(connectionSettings(values), progress);
    // The service serves the same report type the SQL path builds.
    report = (await client.request("GET", `/v1/admin/metrics?window=${window.name}`)) as MetricsReport;
  } else {
    const queries = dashboardQueries({ dataset, window: window.name, patterns });
    if (values["print-sql"]) {
      for (const [name, sql] of Object.entries(queries)) console.log(`-- ${name}\n${sql};\n`);
      return 0;
    }
    report = await reportFromApi(queries, window, credentials());
  }
  if (values.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`window ${window.name} (${report.source})`);
  console.log(
    formatTable(HEADERS, [
      ["(all)", ...summaryRow(report.overall)],
      ...report.namespaces.map((ns) => [ns.namespace, ...summaryRow(ns)]),
    ]),
  );
  return 0;
}

function parseWindowOrUsage(name: string) {
  try {
    return parseWindow(name);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

if (isEntryPoint(import.meta.url)) process.exitCode = await run(main, USAGE);

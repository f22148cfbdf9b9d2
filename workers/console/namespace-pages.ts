// Console pages for namespaces: the list, one namespace (counts, health, quota use), its search
// playground, a document (status, metadata, chunks) and its deletion.
import type { z } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import { hasRole } from "../../src/auth/scopes";
import { AppError } from "../../src/errors";
import {
  EMBEDDING_UNAVAILABLE,
  KEYWORD_UNAVAILABLE,
  VECTOR_UNAVAILABLE,
} from "../../src/search/degradations";
import { listCoveredNamespaces } from "../../src/store/namespace-list";
import { callTool, findTool } from "../api/mcp/tools";
import type { DocumentList } from "../api/routes/documents";
import type { NamespaceStatsSchema, ResultLegsSchema } from "../api/schemas";
import { type ApiAnswer, callApi, problemOf } from "./api";
import { actionForm, enc, type Html, html, marked, page, problemBox } from "./render";
import type { ApiFetch, ConsoleEnv } from "./types";

const MAX_LISTED = 500;
const PAGE = 50;
/** The console's tabs, failures first. */
const STATUSES = ["failed", "queued", "indexed", "deleted"] as const;

type Stats = z.output<typeof NamespaceStatsSchema> & {
  health: { state: string; [k: string]: unknown } | null;
};

interface SearchHit {
  id: string;
  chunkId: string;
  score: number;
  title?: string;
  text?: string;
  snippet?: string;
  highlights?: { start: number; end: number }[];
  snippetTruncated?: { start: boolean; end: boolean };
  metadata: Record<string, unknown>;
  legs?: z.output<typeof ResultLegsSchema>;
}

interface SearchAnswer {
  results: SearchHit[];
  version: string;
  cache: string;
  degraded: string[];
  nextCursor?: string;
}

type C = Context<ConsoleEnv>;

function nsParam(c: C): string {
  return c.req.param("ns") ?? "";
}

const nsPath = (ns: string) => `/console/namespaces/${enc(ns)}`;

function kv(rows: [string, unknown][]): Html {
  return html`<div class="scroll"><table><tbody>${rows.map(
    ([k, v]) =>
      html`<tr><th scope="row">${k}</th><td>${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? "–")}</td></tr>`,
  )}</tbody></table></div>`;
}

/** Server-Timing's stages ("embed;dur=12.3, vector;dur=8") as rows. */
function stageTimings(answer: ApiAnswer<unknown>): [string, string][] {
  const header = answer.headers.get("server-timing") ?? "";
  return header
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [name = "", ...params] = part.split(";").map((p) => p.trim());
      const dur = params.find((p) => p.startsWith("dur="))?.slice(4);
      return [name, dur === undefined ? "–" : `${dur} ms`];
    });
}

export function registerNamespacePages(app: Hono<ConsoleEnv>, api: ApiFetch) {
  app.get("/console/namespaces", async (c) => {
    const principal = c.get("principal");
    const listed = await listCoveredNamespaces(c.get("services").pool.members(), principal, MAX_LISTED);
    return page(
      c,
      "Namespaces",
      html`<p>This key covers: ${principal.namespaces.map((p) => html`<code>${p}</code> `)}; roles: ${principal.roles.join(", ")}.</p>
<form method="get" action="/console/open"><label for="open-ns">Open a namespace</label>
<input id="open-ns" name="ns" required pattern="[a-z0-9][a-z0-9_-]{0,62}"><button type="submit">Open</button></form>
<div class="scroll"><table><thead><tr><th scope="col">namespace</th><th scope="col">documents</th></tr></thead><tbody>${listed.namespaces.map(
        (n) =>
          html`<tr><td><a href="${nsPath(n.namespace)}">${n.namespace}</a></td><td>${n.documents}</td></tr>`,
      )}</tbody></table></div>${listed.truncated ? html`<p>Only the first ${MAX_LISTED} are listed.</p>` : ""}`,
    );
  });

  app.get("/console/open", (c) => c.redirect(nsPath(c.req.query("ns") ?? ""), 303));

  app.get("/console/namespaces/:ns", async (c) => {
    const ns = nsParam(c);
    const stats = await callApi<Stats>(c, api, "GET", `/v1/namespaces/${enc(ns)}`);
    if (!stats.ok) return page(c, `Namespace ${ns}`, problemBox(problemOf(stats)), stats.status);
    const s = stats.body;
    const health = s.health;
    return page(
      c,
      `Namespace ${ns}`,
      html`<p><a href="${nsPath(ns)}/search">Search playground</a> · <a href="${nsPath(ns)}/documents?status=failed">Failed documents</a> · <a href="${nsPath(ns)}/documents?status=indexed">Indexed documents</a> · <a href="${nsPath(ns)}/versions">Versions</a> · <a href="${nsPath(ns)}/backups">Backups</a></p>
<h2>Counts</h2>${kv([
        ["documents", s.documents],
        ["chunks", s.chunks],
        ["pending", s.pending],
        ["failed", s.failed],
        ["active version", s.activeVersion],
      ])}
<h2>Index health</h2>${
        health
          ? html`<p class="${health.state === "ok" ? "ok" : "fail"}">${health.state}</p>${kv(Object.entries(health).filter(([k]) => k !== "state"))}`
          : html`<p>Not checked yet.</p>`
      }
<h2>Quota use</h2>${kv(Object.entries(s.quotas))}
<h2>Open a document</h2><form method="get" action="${nsPath(ns)}/document"><label for="doc-id">Document id</label>
<input id="doc-id" name="id" required><button type="submit">Open</button></form>`,
    );
  });

  app.get("/console/namespaces/:ns/documents", async (c) => {
    const ns = nsParam(c);
    const wanted = c.req.query("status");
    const status = STATUSES.find((s) => s === wanted) ?? "failed";
    const cursor = c.req.query("cursor");
    // The API's listing (GET /v1/namespaces/{ns}/documents): its scope checks, bounds and cursor.
    const answer = await callApi<z.output<typeof DocumentList>>(
      c,
      api,
      "GET",
      `/v1/namespaces/${enc(ns)}/documents?status=${status}&limit=${PAGE}${cursor ? `&cursor=${enc(cursor)}` : ""}`,
    );
    if (!answer.ok)
      return page(c, `${ns}: ${status} documents`, problemBox(problemOf(answer)), answer.status);
    const { documents: shown, nextCursor } = answer.body;
    const base = `${nsPath(ns)}/documents`;
    return page(
      c,
      `${ns}: ${status} documents`,
      html`<p><a href="${nsPath(ns)}">← ${ns}</a> · ${STATUSES.map(
        (s) => html`<a href="${base}?status=${s}"${s === status ? html` aria-current="page"` : ""}>${s}</a> `,
      )}</p>${
        shown.length === 0
          ? html`<p>No ${status} documents.</p>`
          : html`<div class="scroll"><table><thead><tr><th scope="col">document</th><th scope="col">title</th><th scope="col">updated</th><th scope="col">reason</th></tr></thead><tbody>${shown.map(
              (d) =>
                html`<tr><td><a href="${base}/${enc(d.id)}">${d.id}</a></td><td>${d.title ?? ""}</td><td>${d.updatedAt}</td><td>${d.error ?? ""}</td></tr>`,
            )}</tbody></table></div>`
      }${nextCursor ? html`<p><a href="${base}?status=${status}&cursor=${enc(nextCursor)}">Next page</a></p>` : ""}`,
    );
  });

  app.get("/console/namespaces/:ns/document", (c) =>
    c.redirect(`${nsPath(nsParam(c))}/documents/${enc(c.req.query("id") ?? "")}`, 303),
  );

  app.get("/console/namespaces/:ns/search", async (c) => {
    const ns = nsParam(c);
    const q = c.req.query();
    const query = (q.q ?? "").trim();
    const mode = ["hybrid", "vector", "keyword"].includes(q.mode ?? "") ? (q.mode as string) : "hybrid";
    const topK = Math.min(100, Math.max(1, Number.parseInt(q.topK ?? "10", 10) || 10));
    const highlight = q.highlight !== undefined ? q.highlight === "on" : true;
    const rerank = q.rerank === "on";
    const filterText = (q.filter ?? "").trim();
    let results: Html = html``;
    let status = 200;
    if (query) {
      let filter: unknown;
      try {
        filter = filterText ? JSON.parse(filterText) : undefined;
      } catch {
        filter = null;
      }
      if (filter === null) {
        status = 400;
        results = problemBox({ status, code: "validation_failed", detail: "the filter is not valid JSON" });
      } else {
        const answer = await callApi<SearchAnswer>(c, api, "POST", `/v1/namespaces/${enc(ns)}/search`, {
          query,
          mode,
          topK,
          ...(filter === undefined ? {} : { filter }),
          ...(highlight ? { highlight: {} } : {}),
          ...(rerank ? { rerank: true } : {}),
          explain: true,
        });
        status = answer.ok ? 200 : answer.status;
        results = answer.ok
          ? searchResults(ns, answer, fusedBothLegs(mode, answer.body) ? fusionOf(c) : null)
          : problemBox(problemOf(answer));
      }
    }
    const opt = (v: string) => html`<option value="${v}"${v === mode ? html` selected` : ""}>${v}</option>`;
    return page(
      c,
      `Search ${ns}`,
      html`<form method="get" action="${nsPath(ns)}/search" role="search"><fieldset><legend>Query</legend>
<label for="q">Query</label> <input id="q" name="q" value="${query}" required size="40">
<label for="mode">Mode</label> <select id="mode" name="mode">${["hybrid", "vector", "keyword"].map(opt)}</select>
<label for="topK">topK</label> <input id="topK" name="topK" type="number" min="1" max="100" value="${topK}">
<label for="highlight"><input id="highlight" name="highlight" type="checkbox" value="on"${highlight ? html` checked` : ""}> highlight</label>
<input type="hidden" name="highlight" value="off">
<label for="rerank"><input id="rerank" name="rerank" type="checkbox" value="on"${rerank ? html` checked` : ""}> rerank</label>
<br><label for="filter">Filter (JSON)</label> <input id="filter" name="filter" value="${filterText}" size="50" placeholder='{"category":"news"}'>
<button type="submit">Search</button></fieldset></form>${results}`,
      status,
    );
  });

  app.get("/console/namespaces/:ns/documents/:id", async (c) => {
    const ns = nsParam(c);
    const id = c.req.param("id");
    const principal = c.get("principal");
    const tool = findTool("get_document");
    if (!tool) throw new AppError("internal", "get_document is not defined", { retryable: false });
    // The same role the API's document routes and /mcp ask for.
    if (!hasRole(principal, "search"))
      throw new AppError("forbidden", 'this key does not have the "search" role');
    const offset = Math.max(0, Number.parseInt(c.req.query("offset") ?? "0", 10) || 0);
    const result = await callTool(
      { services: c.get("services"), principal, requestId: c.get("requestId"), logger: c.get("logger") },
      tool,
      { namespace: ns, id, chunkOffset: offset, chunkLimit: 20 },
    );
    const body = (result.structuredContent ?? {}) as Record<string, unknown>;
    if (result.isError) {
      const status = typeof body.status === "number" ? body.status : 400;
      return page(
        c,
        `Document ${id}`,
        problemBox({ status, code: String(body.code ?? ""), detail: result.content[0]?.text }),
        status,
      );
    }
    const passages = (body.passages ?? []) as {
      index: number;
      chunkId: string;
      headings: string[];
      text: string;
    }[];
    const next = body.nextChunkOffset;
    return page(
      c,
      `Document ${id}`,
      html`<p><a href="${nsPath(ns)}">← ${ns}</a></p>${kv(
        ["status", "title", "error", "chunks", "version", "contentType", "updatedAt", "expiresAt"]
          .filter((k) => body[k] !== undefined)
          .map((k) => [k, body[k]]),
      )}
<h2>Metadata</h2>${kv(Object.entries((body.metadata ?? {}) as Record<string, unknown>))}
<h2>Chunks</h2>${passages.map(
        (p) =>
          html`<div class="result"><h3>#${p.index} <code>${p.chunkId}</code></h3>${
            p.headings.length ? html`<p class="meta">${p.headings.join(" › ")}</p>` : ""
          }<p>${p.text}</p></div>`,
      )}${typeof next === "number" ? html`<p><a href="?offset=${next}">More chunks</a></p>` : ""}
${
  body.status !== "deleted"
    ? html`<h2>Delete</h2>${actionForm(c, `${nsPath(ns)}/documents/${enc(id)}/delete`, "Delete document", {
        confirm: "I understand this deletes the document",
        danger: true,
      })}`
    : ""
}`,
    );
  });

  app.post("/console/namespaces/:ns/documents/:id/delete", async (c) => {
    const ns = nsParam(c);
    const id = c.req.param("id");
    requireConfirmed(await c.req.parseBody());
    const answer = await callApi(c, api, "DELETE", `/v1/namespaces/${enc(ns)}/documents/${enc(id)}`);
    if (!answer.ok) return page(c, `Delete ${id}`, problemBox(problemOf(answer)), answer.status);
    return page(
      c,
      `Deleted ${id}`,
      html`<p class="notice" role="status">The deletion of <code>${id}</code> was accepted.</p><p><a href="${nsPath(ns)}">Back to ${ns}</a></p>`,
    );
  });
}

/** A destructive form must have its confirmation box ticked. */
export function requireConfirmed(form: Record<string, unknown>): void {
  if (form.confirm !== "yes") {
    throw new AppError("validation_failed", "tick the confirmation box to go ahead", { field: "confirm" });
  }
}

/** Whether the answer's ranking fused both legs (hybrid mode, neither leg unavailable). */
function fusedBothLegs(mode: string, answer: SearchAnswer): boolean {
  const legFailed = [EMBEDDING_UNAVAILABLE, KEYWORD_UNAVAILABLE, VECTOR_UNAVAILABLE];
  return mode === "hybrid" && !answer.degraded.some((d) => legFailed.includes(d));
}

/** This deployment's fusion, as the playground shows it under the legs. */
function fusionOf(c: C): string {
  const { hybridRrfK: k, hybridKeywordWeight: kw, hybridVectorWeight: vw } = c.get("services").config;
  return `fused = ${kw} / (${k} + keyword rank) + ${vw} / (${k} + vector rank); a leg that did not find the result adds 0`;
}

const fixed = (n: number | undefined, digits: number) => (n === undefined ? "–" : n.toFixed(digits));

/** Each result's place and score in each leg, its fused score and its reranker score. */
function legsTable(results: readonly SearchHit[], fusion: string | null): Html {
  if (!results.some((r) => r.legs)) return html``;
  return html`<h2>Scores by leg</h2><div class="scroll"><table><thead><tr><th scope="col">#</th><th scope="col">document</th><th scope="col">keyword rank</th><th scope="col">bm25</th><th scope="col">vector rank</th><th scope="col">similarity</th><th scope="col">fused</th><th scope="col">rerank</th></tr></thead><tbody>${results.map(
    (r, i) => {
      const legs = r.legs;
      if (!legs) return "";
      return html`<tr><td>${i + 1}</td><td><code>${r.id}</code></td><td>${legs.keyword?.rank ?? "–"}</td><td>${fixed(legs.keyword?.score, 4)}</td><td>${legs.vector?.rank ?? "–"}</td><td>${fixed(legs.vector?.score, 4)}</td><td>${fixed(legs.fused, 6)}</td><td>${fixed(legs.rerank, 4)}</td></tr>`;
    },
  )}</tbody></table></div>${fusion ? html`<p class="meta">${fusion}.</p>` : ""}`;
}

function searchResults(ns: string, answer: ApiAnswer<SearchAnswer>, fusion: string | null): Html {
  const a = answer.body;
  const timings = stageTimings(answer);
  return html`<p class="meta" role="status">${a.results.length} results · version <code>${a.version}</code> · cache ${a.cache}${
    a.degraded.length ? html` · <span class="warn">degraded: ${a.degraded.join(", ")}</span>` : ""
  }</p>
${a.results.map((r, i) => {
  const snippet = r.snippet ?? r.text ?? "";
  const trunc = r.snippetTruncated;
  return html`<div class="result"><h3>${i + 1}. <a href="${nsPath(ns)}/documents/${enc(r.id)}">${r.title ?? r.id}</a></h3>
<p>${trunc?.start ? "… " : ""}${r.snippet !== undefined ? marked(snippet, r.highlights ?? []) : snippet}${trunc?.end ? " …" : ""}</p>
<p class="meta">score ${r.score.toFixed(4)} · document <code>${r.id}</code> · chunk <code>${r.chunkId}</code>${
    Object.keys(r.metadata).length ? html` · ${JSON.stringify(r.metadata)}` : ""
  }</p></div>`;
})}
${legsTable(a.results, fusion)}
${
  timings.length
    ? html`<h2>Stage timings</h2><div class="scroll"><table><thead><tr><th scope="col">stage</th><th scope="col">time</th></tr></thead><tbody>${timings.map(
        ([name, dur]) => html`<tr><td>${name}</td><td>${dur}</td></tr>`,
      )}</tbody></table></div>`
    : ""
}`;
}

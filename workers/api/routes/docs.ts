// /openapi.json, generated from the route schemas, and /docs, a self-contained page that
// renders it (no CDN: it works offline in local mode).
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../types";

/** The name of the security scheme every /v1 operation requires. */
export const API_KEY_SCHEME = "apiKey";

/**
 * The document's top level; the paths and components come from the routes.
 * @param server the URL of the API the document describes: the origin that serves it, or what
 *   scripts/openapi.ts is given
 */
export function openApiConfig(server: string) {
  return {
    openapi: "3.1.0" as const,
    info: {
      title: "edgesearch API",
      version: "1.0.0",
      description:
        "Semantic search on Cloudflare's edge. Errors are application/problem+json with a requestId. " +
        "The MCP server at /mcp (JSON-RPC over Streamable HTTP, same keys) is not described here.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: server }],
    // Every /v1 route requires a key; /healthz and /readyz say otherwise on their own.
    security: [{ [API_KEY_SCHEME]: [] }],
    tags: [
      { name: "documents", description: "Write, read and delete the documents of a namespace." },
      { name: "search", description: "Hybrid, vector and keyword search, and similar documents." },
      { name: "namespaces", description: "A namespace's counts, quotas and deletion." },
      { name: "versions", description: "Index versions, their quality gate and its golden queries." },
      {
        name: "experiments",
        description: "Online experiments between index versions, and feedback on search answers.",
      },
      { name: "backups", description: "Backups of a namespace to R2 and restores from them." },
      { name: "admin", description: "API keys, dead letters, shards, moves and operations figures." },
      { name: "health", description: "Liveness and readiness probes; no key needed." },
    ],
  };
}

export function registerDocs(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.registerComponent("securitySchemes", API_KEY_SCHEME, {
    type: "http",
    scheme: "bearer",
    description:
      "An API key, es_<id>_<secret>. Its roles (search, write, admin) and namespace patterns " +
      "decide what it may call; a key without the role a route needs gets 403.",
  });
  app.doc31("/openapi.json", (c) => openApiConfig(new URL(c.req.url).origin));

  app.get("/docs", (c) => {
    // The page's own inline script and style, and /openapi.json from this origin: nothing else.
    c.header(
      "content-security-policy",
      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
    );
    return c.html(DOCS_PAGE);
  });
}

/** The /docs page: it fetches /openapi.json and renders each operation. */
export const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgesearch API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#f38020;color:#fff;padding:16px 32px}header h1{margin:0;font-size:22px}
main{max-width:960px;margin:0 auto;padding:16px 32px}
.op{background:#fff;border:1px solid #ddd;border-radius:6px;margin:12px 0;padding:12px 16px}
.m{display:inline-block;min-width:64px;font-weight:700;text-transform:uppercase;font-family:monospace}
.get{color:#0a7d32}.post{color:#0b5cad}.put{color:#8a5a00}.delete{color:#b00020}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f4f4;padding:8px;overflow:auto;border-radius:4px}
details summary{cursor:pointer;color:#555}
</style></head><body><header><h1>edgesearch API</h1><div id="desc"></div></header><main id="ops">Loading…</main>
<script>
const esc = (s) => String(s).replace(/[&<>"]/g, (ch) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[ch]));
const deref = (spec, s) => s && s.$ref ? spec.components.schemas[s.$ref.split("/").pop()] : s;
const derefResponse = (spec, r) => r.$ref ? spec.components.responses[r.$ref.split("/").pop()] : r;
const example = (m) => m.example !== undefined ? m.example : m.examples ? Object.values(m.examples)[0].value : undefined;
const pre = (v) => "<pre>" + esc(JSON.stringify(v, null, 2)) + "</pre>";
fetch("/openapi.json").then((r) => r.json()).then((spec) => {
  document.getElementById("desc").textContent = spec.info.description || "";
  const out = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const body = op.requestBody && op.requestBody.content["application/json"];
      const responses = Object.entries(op.responses || {}).map(([code, ref]) => {
        const r = derefResponse(spec, ref);
        const media = r.content && Object.values(r.content)[0];
        const shown = media && example(media);
        return "<li><b>" + esc(code) + "</b> " + esc(r.description || "") +
          (shown !== undefined ? pre(shown) : media && code < 300 ? pre(deref(spec, media.schema)) : "") + "</li>";
      }).join("");
      const bodyExample = body && example(body);
      out.push('<div class="op"><span class="m ' + method + '">' + method + "</span> <code>" + esc(path) + "</code>" +
        "<div>" + esc(op.summary || "") + "</div>" +
        (bodyExample !== undefined ? '<details open class="example"><summary>Example request</summary>' + pre(bodyExample) + "</details>" : "") +
        (body ? "<details><summary>Request body schema</summary>" + pre(deref(spec, body.schema)) + "</details>" : "") +
        "<details><summary>Responses</summary><ul>" + responses + "</ul></details></div>");
    }
  }
  document.getElementById("ops").innerHTML = out.join("");
}).catch((e) => { document.getElementById("ops").textContent = "Could not load /openapi.json: " + e; });
</script></body></html>`;

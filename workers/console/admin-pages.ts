// Console pages for the admin role: a namespace's index versions (activate, roll back, retire),
// dead letters (replay), API keys (create, revoke) and the metrics dashboard.
import type { z } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import { ROLES } from "../../src/auth/scopes";
import type { DeadLetter as DeadLetterSchema } from "../api/routes/dead-letters";
import { callApi, problemOf } from "./api";
import { REFRESH_SECONDS } from "./backup-pages";
import { requireConfirmed } from "./namespace-pages";
import { actionForm, enc, type Html, html, page, problemBox } from "./render";
import type { ApiFetch, ConsoleEnv } from "./types";

type C = Context<ConsoleEnv>;

interface Version {
  id: string;
  state: string;
  model: string;
  dimensions: number;
  index: string;
  createdAt: string;
  activatedAt: string | null;
  build: {
    phase: string;
    total: number;
    done: number;
    failed: number;
    failures: { id: string; error: string }[];
  } | null;
  gate: {
    queries: number;
    ndcg: number;
    activeNdcg: number | null;
    passed: boolean;
    forced: boolean;
    at: string;
  } | null;
}

type DeadLetter = z.output<typeof DeadLetterSchema>;

interface KeyInfo {
  id: string;
  name: string;
  namespaces: string[];
  roles: string[];
  rateLimit: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

const notice = (text: Html | string) => html`<p class="notice" role="status">${text}</p>`;

function gateText(g: Version["gate"]): Html {
  if (!g) return html`–`;
  return html`<span class="${g.passed ? "ok" : "fail"}">${g.passed ? "passed" : "failed"}</span> nDCG ${g.ndcg.toFixed(3)}${
    g.activeNdcg === null ? "" : ` (active ${g.activeNdcg.toFixed(3)})`
  } over ${g.queries} queries${g.forced ? " (forced)" : ""}`;
}

function buildText(b: Version["build"]): Html {
  if (!b) return html`–`;
  return html`${b.phase}: ${b.done}/${b.total}${b.failed ? html`, <span class="fail">${b.failed} failed</span>` : ""}${b.failures.map(
    (f) => html`<br><code>${f.id}</code>: ${f.error}`,
  )}`;
}

async function versionsPage(c: C, api: ApiFetch, message?: Html): Promise<Response> {
  const ns = c.req.param("ns") ?? "";
  const base = `/console/namespaces/${enc(ns)}/versions`;
  const answer = await callApi<{ versions: Version[] }>(c, api, "GET", `/v1/namespaces/${enc(ns)}/versions`);
  if (!answer.ok) return page(c, `Versions of ${ns}`, problemBox(problemOf(answer)), answer.status);
  const building = answer.body.versions.some((v) => v.state === "building");
  const rows = answer.body.versions.map(
    (v) =>
      html`<tr><td><code>${v.id}</code></td><td>${v.state}</td><td>${v.model} (${v.dimensions})</td><td>${buildText(v.build)}</td><td>${gateText(v.gate)}</td><td>${
        v.state === "active"
          ? ""
          : html`${actionForm(c, `${base}/${enc(v.id)}/activate`, "Activate", {
              confirm: "confirm",
              fields: html`<label><input type="checkbox" name="force" value="yes"> even if the quality gate fails</label>`,
            })} ${actionForm(c, `${base}/${enc(v.id)}/retire`, "Retire", { confirm: "confirm", danger: true })}`
      }</td></tr>`,
  );
  return page(
    c,
    `Versions of ${ns}`,
    html`${message ?? ""}<p><a href="/console/namespaces/${enc(ns)}">← ${ns}</a></p>
<div class="scroll"><table><thead><tr><th scope="col">version</th><th scope="col">state</th><th scope="col">model</th><th scope="col">build</th><th scope="col">quality gate</th><th scope="col">actions</th></tr></thead>
<tbody>${rows}</tbody></table></div>
<h2>Roll back</h2><p>Make the previously active version active again.</p>${actionForm(
      c,
      `${base}/rollback`,
      "Roll back",
      {
        confirm: "I understand searches switch versions",
        danger: true,
      },
    )}`,
    200,
    // Reloads while a version builds, so its progress is live.
    building ? REFRESH_SECONDS : undefined,
  );
}

async function keysPage(c: C, api: ApiFetch, message?: Html, status = 200): Promise<Response> {
  const answer = await callApi<{ keys: KeyInfo[] }>(c, api, "GET", "/v1/admin/keys");
  if (!answer.ok) return page(c, "Keys", problemBox(problemOf(answer)), answer.status);
  return page(
    c,
    "Keys",
    html`${message ?? ""}<div class="scroll"><table><thead><tr><th scope="col">id</th><th scope="col">name</th><th scope="col">namespaces</th><th scope="col">roles</th><th scope="col">rate limit</th><th scope="col">expires</th><th scope="col">state</th></tr></thead><tbody>${answer.body.keys.map(
      (k) =>
        html`<tr><td><code>${k.id}</code></td><td>${k.name}</td><td>${k.namespaces.join(", ")}</td><td>${k.roles.join(", ")}</td><td>${k.rateLimit}</td><td>${k.expiresAt ?? "never"}</td><td>${
          k.revokedAt
            ? html`revoked ${k.revokedAt}`
            : actionForm(c, `/console/keys/${enc(k.id)}/revoke`, "Revoke", {
                confirm: "confirm",
                danger: true,
              })
        }</td></tr>`,
    )}</tbody></table></div>
<h2>Create a key</h2><form method="post" action="/console/keys"><fieldset><legend>New key</legend>
<input type="hidden" name="_csrf" value="${c.get("csrf")}">
<label for="k-name">Name</label> <input id="k-name" name="name" required maxlength="128">
<label for="k-ns">Namespaces (comma-separated patterns)</label> <input id="k-ns" name="namespaces" required placeholder="docs, acme-*">
<fieldset><legend>Roles</legend>${ROLES.map(
      (r) =>
        html`<label for="role-${r}"><input type="checkbox" id="role-${r}" name="roles" value="${r}"> ${r}</label>`,
    )}</fieldset>
<label for="k-rate">Rate limit</label> <select id="k-rate" name="rateLimit">${[
      "low",
      "standard",
      "high",
      "unlimited",
    ].map((t) => html`<option${t === "standard" ? html` selected` : ""}>${t}</option>`)}</select>
<button type="submit">Create key</button></fieldset></form>`,
    status,
  );
}

export function registerAdminPages(app: Hono<ConsoleEnv>, api: ApiFetch) {
  app.get("/console/namespaces/:ns/versions", (c) => versionsPage(c, api));

  for (const action of ["activate", "retire"] as const) {
    app.post(`/console/namespaces/:ns/versions/:id/${action}`, async (c) => {
      const form = await c.req.parseBody();
      requireConfirmed(form);
      const ns = c.req.param("ns");
      const id = c.req.param("id");
      const answer = await callApi(
        c,
        api,
        "POST",
        `/v1/namespaces/${enc(ns)}/versions/${enc(id)}/${action}`,
        action === "activate" ? { force: form.force === "yes" } : undefined,
      );
      if (!answer.ok) return versionsPage(c, api, problemBox(problemOf(answer)));
      return versionsPage(c, api, notice(html`Version <code>${id}</code>: ${action}d.`));
    });
  }

  app.post("/console/namespaces/:ns/versions/rollback", async (c) => {
    requireConfirmed(await c.req.parseBody());
    const answer = await callApi(
      c,
      api,
      "POST",
      `/v1/namespaces/${enc(c.req.param("ns"))}/versions/rollback`,
      {},
    );
    return versionsPage(c, api, answer.ok ? notice("Rolled back.") : problemBox(problemOf(answer)));
  });

  app.get("/console/dead-letters", async (c) => {
    const answer = await callApi<{ deadLetters: DeadLetter[] }>(
      c,
      api,
      "GET",
      "/v1/admin/dead-letters?pending=true",
    );
    if (!answer.ok) return page(c, "Dead letters", problemBox(problemOf(answer)), answer.status);
    const letters = answer.body.deadLetters;
    return page(
      c,
      "Dead letters",
      html`${c.req.query("replayed") ? notice(`Re-enqueued: ${c.req.query("replayed")}`) : ""}${
        letters.length === 0
          ? html`<p>No dead letters waiting.</p>`
          : html`<div class="scroll"><table><thead><tr><th scope="col">id</th><th scope="col">namespace</th><th scope="col">document</th><th scope="col">error</th><th scope="col">attempts</th><th scope="col">received</th><th scope="col">replay</th></tr></thead><tbody>${letters.map(
              (d) =>
                html`<tr><td>${d.id}</td><td>${d.namespace ?? "–"}</td><td>${
                  d.namespace && d.documentId
                    ? html`<a href="/console/namespaces/${enc(d.namespace)}/documents/${enc(d.documentId)}">${d.documentId}</a>`
                    : "–"
                }</td><td>${d.error ?? "–"}</td><td>${d.attempts}</td><td>${d.receivedAt}</td><td>${
                  d.namespace
                    ? actionForm(c, "/console/dead-letters/replay", "Replay", {
                        confirm: "confirm",
                        fields: html`<input type="hidden" name="id" value="${d.id}">`,
                      })
                    : "–"
                }</td></tr>`,
            )}</tbody></table></div>`
      }`,
    );
  });

  app.post("/console/dead-letters/replay", async (c) => {
    const form = await c.req.parseBody();
    requireConfirmed(form);
    const id = Number(form.id);
    const answer = await callApi<{ replayed: number[] }>(c, api, "POST", "/v1/admin/dead-letters/replay", {
      ids: [id],
    });
    if (!answer.ok) return page(c, "Dead letters", problemBox(problemOf(answer)), answer.status);
    return c.redirect(`/console/dead-letters?replayed=${answer.body.replayed.join(",")}`, 303);
  });

  app.get("/console/keys", (c) => keysPage(c, api));

  app.post("/console/keys", async (c) => {
    const form = await c.req.parseBody({ all: true });
    const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);
    const answer = await callApi<KeyInfo & { key: string }>(c, api, "POST", "/v1/admin/keys", {
      name: String(form.name ?? ""),
      namespaces: list(form.namespaces)
        .flatMap((s) => s.split(","))
        .map((s) => s.trim())
        .filter(Boolean),
      roles: list(form.roles),
      rateLimit: String(form.rateLimit ?? "standard"),
    });
    if (!answer.ok) return keysPage(c, api, problemBox(problemOf(answer)), answer.status);
    return keysPage(
      c,
      api,
      html`<div class="notice" role="status"><p>Key <code>${answer.body.id}</code> created. Copy the secret now: it is shown only once.</p>
<p class="secret" id="new-key">${answer.body.key}</p></div>`,
      201,
    );
  });

  app.post("/console/keys/:id/revoke", async (c) => {
    requireConfirmed(await c.req.parseBody());
    const id = c.req.param("id");
    const answer = await callApi(c, api, "DELETE", `/v1/admin/keys/${enc(id)}`);
    return keysPage(
      c,
      api,
      answer.ok ? notice(html`Key <code>${id}</code> revoked.`) : problemBox(problemOf(answer)),
      answer.ok ? 200 : answer.status,
    );
  });

  app.get("/console/dashboard", async (c) => {
    const window = c.req.query("window");
    const answer = await callApi<string>(
      c,
      api,
      "GET",
      `/v1/admin/dashboard${window ? `?window=${enc(window)}` : ""}`,
    );
    if (!answer.ok) return page(c, "Metrics", problemBox(problemOf(answer)), answer.status);
    // The API's page, with its own nonce'd policy; its window links point back here.
    const body = String(answer.body).replaceAll('href="?window=', 'href="/console/dashboard?window=');
    return c.body(body, 200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": answer.headers.get("content-security-policy") ?? "default-src 'none'",
    });
  });
}

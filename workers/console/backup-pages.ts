// Console pages for a namespace's backups (admin role, as the API's backup routes): the backups
// with their state and progress, starting one, restoring one into an empty namespace, and a
// restore's progress. While a job runs the page reloads itself (a refresh meta, no script).
import type { z } from "@hono/zod-openapi";
import type { Context, Hono } from "hono";
import type { JobResponse } from "../api/routes/backup";
import { callApi, problemOf } from "./api";
import { requireConfirmed } from "./namespace-pages";
import { actionForm, enc, type Html, html, page, problemBox } from "./render";
import type { ApiFetch, ConsoleEnv } from "./types";

type C = Context<ConsoleEnv>;

/** Seconds between reloads while a backup or restore runs. */
export const REFRESH_SECONDS = 3;

/** A backup or restore as the API answers it; listed backups also carry their size. */
type Job = z.output<typeof JobResponse> & { bytes?: number };

const nsPath = (ns: string) => `/console/namespaces/${enc(ns)}`;

function stateText(j: Job): Html {
  const cls = j.state === "complete" ? "ok" : j.state === "failed" ? "fail" : "warn";
  return html`<span class="${cls}">${j.state}</span>${j.state === "running" ? html` (${j.phase})` : ""}${
    j.error ? html`<br>${j.error}` : ""
  }`;
}

function progressText(j: Job): Html {
  const p = j.progress;
  const of = (n: number, total: number | undefined) => (total === undefined ? `${n}` : `${n}/${total}`);
  return html`documents ${of(p.documents, p.expected?.documents)} · chunks ${of(p.chunks, p.expected?.chunks)}${
    p.parts ? html` · parts ${p.parts.verified}/${p.parts.total}` : ""
  }`;
}

function jobsTable(jobs: readonly Job[], kind: "backup" | "restore"): Html {
  if (jobs.length === 0) return html`<p>No ${kind === "backup" ? "backups" : "restores"} yet.</p>`;
  return html`<div class="scroll"><table><thead><tr><th scope="col">id</th><th scope="col">state</th><th scope="col">progress</th>${
    kind === "backup" ? html`<th scope="col">bytes</th>` : html`<th scope="col">from</th>`
  }<th scope="col">started</th><th scope="col">finished</th></tr></thead><tbody>${jobs.map(
    (j) =>
      html`<tr><td>${
        kind === "restore"
          ? html`<a href="${nsPath(j.namespace)}/restores/${enc(j.id)}">${j.id}</a>`
          : html`<code>${j.id}</code>`
      }</td><td>${stateText(j)}${j.containsErasedData ? html`<br><span class="warn">may hold erased data</span>` : ""}</td><td>${progressText(j)}</td><td>${
        kind === "backup" ? String(j.bytes ?? 0) : j.from ? `${j.from.namespace} / ${j.from.backupId}` : "–"
      }</td><td>${j.createdAt}</td><td>${j.finishedAt ?? "–"}</td></tr>`,
  )}</tbody></table></div>`;
}

async function backupsPage(c: C, api: ApiFetch, message?: Html, status = 200): Promise<Response> {
  const ns = c.req.param("ns") ?? "";
  const title = `Backups of ${ns}`;
  const [backups, restores] = await Promise.all([
    callApi<{ jobs: Job[] }>(c, api, "GET", `/v1/namespaces/${enc(ns)}/backups`),
    callApi<{ jobs: Job[] }>(c, api, "GET", `/v1/namespaces/${enc(ns)}/restore`),
  ]);
  if (!backups.ok) return page(c, title, problemBox(problemOf(backups)), backups.status);
  if (!restores.ok) return page(c, title, problemBox(problemOf(restores)), restores.status);
  const jobs = [...backups.body.jobs, ...restores.body.jobs];
  const running = jobs.some((j) => j.state === "running");
  const complete = backups.body.jobs.filter((j) => j.state === "complete");
  return page(
    c,
    title,
    html`${message ?? ""}<p><a href="${nsPath(ns)}">← ${ns}</a></p>
${running ? html`<p class="meta" role="status">A job is running: this page reloads every ${REFRESH_SECONDS} seconds.</p>` : ""}
<h2>Backups</h2>${jobsTable(backups.body.jobs, "backup")}
<h2>Start a backup</h2><p>Exports the active version to the backups bucket, a page of documents per queue step.</p>${actionForm(
      c,
      `${nsPath(ns)}/backups`,
      "Start a backup",
    )}
<h2>Restore a backup</h2>${
      complete.length === 0
        ? html`<p>No complete backup to restore.</p>`
        : html`<form method="post" action="${nsPath(ns)}/restore"><fieldset><legend>Restore into an empty namespace</legend>
<input type="hidden" name="_csrf" value="${c.get("csrf") ?? ""}">
<label for="r-backup">Backup</label> <select id="r-backup" name="backupId">${complete.map(
            (j) => html`<option value="${j.id}">${j.id}</option>`,
          )}</select>
<label for="r-target">Target namespace</label> <input id="r-target" name="target" required pattern="[a-z0-9][a-z0-9_-]{0,62}">
<label for="r-confirm"><input type="checkbox" id="r-confirm" name="confirm" value="yes" required> I understand this writes the backup's documents into the target namespace</label>
<button type="submit" class="danger">Restore</button></fieldset></form>`
    }
<h2>Restores into ${ns}</h2>${jobsTable(restores.body.jobs, "restore")}`,
    status,
    running ? REFRESH_SECONDS : undefined,
  );
}

export function registerBackupPages(app: Hono<ConsoleEnv>, api: ApiFetch) {
  app.get("/console/namespaces/:ns/backups", (c) => backupsPage(c, api));

  app.post("/console/namespaces/:ns/backups", async (c) => {
    const ns = c.req.param("ns");
    const answer = await callApi<Job>(c, api, "POST", `/v1/namespaces/${enc(ns)}/backups`);
    if (!answer.ok) return backupsPage(c, api, problemBox(problemOf(answer)), answer.status);
    // Post/redirect/get: the page it lands on reloads itself while the backup runs.
    return c.redirect(`${nsPath(ns)}/backups`, 303);
  });

  app.post("/console/namespaces/:ns/restore", async (c) => {
    const ns = c.req.param("ns");
    const form = await c.req.parseBody();
    requireConfirmed(form);
    const target = typeof form.target === "string" ? form.target.trim() : "";
    const backupId = typeof form.backupId === "string" ? form.backupId : "";
    // The API checks the target's name, the backup id and the key's access to both namespaces.
    const answer = await callApi<Job>(c, api, "POST", `/v1/namespaces/${enc(target)}/restore`, {
      from: { namespace: ns, backupId },
    });
    if (!answer.ok) return backupsPage(c, api, problemBox(problemOf(answer)), answer.status);
    return c.redirect(`${nsPath(target)}/restores/${enc(answer.body.id)}`, 303);
  });

  app.get("/console/namespaces/:ns/restores/:id", async (c) => {
    const ns = c.req.param("ns");
    const id = c.req.param("id");
    const title = `Restore ${id} into ${ns}`;
    const answer = await callApi<Job>(c, api, "GET", `/v1/namespaces/${enc(ns)}/restore/${enc(id)}`);
    if (!answer.ok) return page(c, title, problemBox(problemOf(answer)), answer.status);
    const j = answer.body;
    const running = j.state === "running";
    return page(
      c,
      title,
      html`<p><a href="${nsPath(ns)}">← ${ns}</a> · <a href="${nsPath(ns)}/backups">Backups of ${ns}</a></p>
${running ? html`<p class="meta" role="status">Running: this page reloads every ${REFRESH_SECONDS} seconds.</p>` : ""}
<div class="scroll"><table><tbody>
<tr><th scope="row">state</th><td>${stateText(j)}</td></tr>
<tr><th scope="row">progress</th><td>${progressText(j)}</td></tr>
<tr><th scope="row">from</th><td>${j.from ? `${j.from.namespace} / ${j.from.backupId}` : "–"}</td></tr>
<tr><th scope="row">started</th><td>${j.createdAt}</td></tr>
<tr><th scope="row">finished</th><td>${j.finishedAt ?? "–"}</td></tr>
</tbody></table></div>`,
      200,
      running ? REFRESH_SECONDS : undefined,
    );
  });
}

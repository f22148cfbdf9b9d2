// Personal data redaction at ingest through the API: a namespace that redacts has no trace of a
// redacted value in what search answers (results, snippets, keyword matches), in its D1 chunks or
// in a backup, while the R2 object stays as uploaded; a namespace that does not redact keeps it.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { QuotaStore } from "../../src/quotas/store";
import { RedactionStore } from "../../src/redaction/settings";
import { DatabasePool } from "../../src/store/pool";
import { createKey } from "../security/support";
import { api, freshNamespace, waitFor, waitVersionReady, writeIndexed } from "../support";
import { searchApi, waitVectorsApplied } from "../support/search";

const EMAIL = "marguerite.quillfeather@example.org";
const CARD = "4111 1111 1111 1111";
const TEXT = `The zebra migration report is maintained by ${EMAIL}. Expenses go on card ${CARD}, not on 4111 1111 1111 1112.`;
const DOC = { id: "report", title: "Zebra migration", text: TEXT };

/** Every chunk text of the namespace (of one version), from whichever database of the pool holds it. */
async function chunkTexts(ns: string, version?: string): Promise<string[]> {
  const texts: string[] = [];
  for (const db of [env.DB, env.DATA_DB_1, env.DATA_DB_2]) {
    const { results } = await db
      .prepare("SELECT text FROM chunks WHERE namespace = ?1 AND (?2 IS NULL OR version = ?2)")
      .bind(ns, version ?? null)
      .all<{ text: string }>();
    texts.push(...results.map((r) => r.text));
  }
  return texts;
}

async function backupText(ns: string): Promise<string> {
  const started = await api<{ id: string }>("POST", `/v1/namespaces/${ns}/backups`, {});
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const done = await waitFor(
    "the backup to finish",
    async () => {
      const job = await api<{ state: string }>("GET", `/v1/namespaces/${ns}/backups/${started.body.id}`);
      return job.body.state === "running" ? undefined : job.body;
    },
    60_000,
    100,
  );
  expect(done.state).toBe("complete");
  const listed = await env.BACKUPS.list({ prefix: `_backups/${ns}/${started.body.id}/` });
  let all = "";
  for (const o of listed.objects) all += (await (await env.BACKUPS.get(o.key))?.text()) ?? "";
  expect(all).toContain("zebra");
  return all;
}

describe("redaction at ingest", () => {
  it("keeps a redacted email and card out of search, snippets, chunks and backups", async () => {
    const ns = freshNamespace("redact");
    const set = await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: true, card: true });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.redaction).toEqual({ email: true, phone: false, card: true, iban: false, ip: false });
    expect((await api("GET", `/v1/namespaces/${ns}/redaction`)).body).toEqual(set.body);

    await writeIndexed(ns, [DOC]);
    await waitVectorsApplied(ns, "zebra migration", 1);

    const status = await api("GET", `/v1/namespaces/${ns}/documents/report`);
    expect(status.body.redactions).toEqual({ email: 1, card: 1 });

    // The address's own words match nothing: they were never indexed.
    for (const query of ["marguerite", "quillfeather", EMAIL]) {
      const res = await searchApi(ns, { query, mode: "keyword", cache: "bypass" });
      expect(res.status).toBe(200);
      expect(res.body.results, query).toEqual([]);
    }
    for (const mode of ["keyword", "vector", "hybrid"]) {
      const res = await searchApi(ns, { query: "zebra migration", mode, highlight: true, cache: "bypass" });
      const hit = res.body.results[0];
      expect(hit?.id, mode).toBe("report");
      const shown = JSON.stringify(res.body);
      expect(shown).not.toContain("quillfeather");
      expect(shown).not.toContain(CARD);
      expect(hit?.text).toContain("[EMAIL]");
      expect(hit?.text).toContain("[CARD]");
      // 16 digits failing the Luhn check are no card.
      expect(hit?.text).toContain("4111 1111 1111 1112");
    }

    const chunks = await chunkTexts(ns);
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.join("\n")).not.toContain("quillfeather");
    expect(chunks.join("\n")).toContain("[EMAIL]");

    // The original upload is the user's and stays as written; what is derived from it is redacted.
    const original = await env.DOCUMENTS.get(`${ns}/report`);
    expect(await original?.text()).toContain(EMAIL);

    const backup = await backupText(ns);
    expect(backup).not.toContain("quillfeather");
    expect(backup).not.toContain(CARD);
    expect(backup).toContain("[EMAIL]");

    // The ingest point counts what was redacted (blob5).
    await flushLocalMetrics(env.DB);
    const point = await env.DB.prepare(
      "SELECT blob5 FROM local_metrics WHERE index1 = ?1 AND blob1 = 'ingest' AND blob3 = 'indexed'",
    )
      .bind(ns)
      .first<{ blob5: string }>();
    expect(point?.blob5).toBe("card=1,email=1");
  });

  it("indexes the text as written in a namespace that does not redact", async () => {
    const ns = freshNamespace("plain");
    await writeIndexed(ns, [DOC]);
    const status = await api("GET", `/v1/namespaces/${ns}/documents/report`);
    expect(status.body).not.toHaveProperty("redactions");
    const res = await searchApi(ns, { query: "quillfeather", mode: "keyword", cache: "bypass" });
    expect(res.body.results[0]?.text).toContain(EMAIL);
  });

  it("applies a change of the settings from the next document indexed", async () => {
    const ns = freshNamespace("redact-change");
    const doc = (id: string) => ({ id, text: `Ibex herd ${id} sightings go to ${EMAIL}.` });
    const chunkOf = async (id: string) =>
      (
        await env.DB.prepare("SELECT text FROM chunks WHERE namespace = ?1 AND doc_id = ?2")
          .bind(ns, id)
          .first<{ text: string }>()
      )?.text;
    expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: true })).status).toBe(200);
    await writeIndexed(ns, [doc("one")]);
    expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: false })).status).toBe(200);
    await writeIndexed(ns, [doc("two")]);
    expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: true })).status).toBe(200);
    await writeIndexed(ns, [doc("three")]);
    expect(await chunkOf("one")).toContain("[EMAIL]");
    expect(await chunkOf("two")).toContain(EMAIL);
    expect(await chunkOf("three")).toContain("[EMAIL]");
    expect(await chunkOf("three")).not.toContain(EMAIL);
  });

  it("reads the settings beside the quotas from DB even when the namespace moves meanwhile", async () => {
    const ns = freshNamespace("redact-move");
    await new RedactionStore(env.DB).set(
      ns,
      { email: true, phone: false, card: false, iban: false, ip: false },
      "k",
    );
    // The namespace is in DB when the ingest asks, and in DATA_DB_1 from the next lookup on.
    let lookups = 0;
    const pool = new DatabasePool({
      databases: new Map([
        ["DB", env.DB],
        ["DATA_DB_1", env.DATA_DB_1],
      ]),
      locate: async () => ({ database: lookups++ === 0 ? "DB" : "DATA_DB_1", moving: null }),
    });
    const state = await new QuotaStore({ db: env.DB, pool }).namespaceWithRedaction(ns);
    expect(state.redaction.email).toBe(true);
  });

  it("builds a new index version from the originals through the settings in force", async () => {
    const ns = freshNamespace("redact-v2");
    await writeIndexed(ns, [DOC]);
    expect((await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: true })).status).toBe(200);
    // Other chunking: the build reads the R2 original again instead of copying v1's chunks.
    const created = await api("POST", `/v1/namespaces/${ns}/versions`, {
      model: "@cf/baai/bge-small-en-v1.5",
      chunking: { maxTokens: 128, overlapTokens: 16 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    await waitVersionReady(ns, "v2");
    const v2 = (await chunkTexts(ns, "v2")).join("\n");
    expect(v2).toContain("[EMAIL]");
    expect(v2).not.toContain("quillfeather");
    // Indexed before the setting: v1 keeps its text until the document is written again.
    expect((await chunkTexts(ns, "v1")).join("\n")).toContain(EMAIL);
  });

  it("refuses unknown kinds and non-admin keys", async () => {
    const ns = freshNamespace("redact-bad");
    const bad = await api("PUT", `/v1/namespaces/${ns}/redaction`, { names: true });
    expect(bad.status).toBe(400);
    const notBool = await api("PUT", `/v1/namespaces/${ns}/redaction`, { email: "yes" });
    expect(notBool.status).toBe(400);
    const writer = await createKey({ namespaces: [ns], roles: ["write", "search"] });
    const refused = await api(
      "PUT",
      `/v1/namespaces/${ns}/redaction`,
      { email: true },
      {
        authorization: `Bearer ${writer.key}`,
      },
    );
    expect(refused.status).toBe(403);
    expect((await api("GET", `/v1/namespaces/${ns}/redaction`)).body.redaction).toEqual({
      email: false,
      phone: false,
      card: false,
      iban: false,
      ip: false,
    });
  });
});

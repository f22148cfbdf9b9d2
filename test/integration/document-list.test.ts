// GET /v1/namespaces/{ns}/documents: a namespace's documents by status with their failure
// reasons, page after page through an opaque cursor, every document exactly once; bad input is a
// problem+json 400, and a key sees only the namespaces it covers.
import { describe, expect, it } from "vitest";
import { DOCUMENT_PAGE_LIMITS } from "../../src/store/document-pages";
import { api, freshNamespace, waitForStatus } from "../support";

interface Listed {
  id: string;
  status: string;
  error?: string;
}
interface DocumentList {
  documents: Listed[];
  nextCursor?: string;
}

const list = (ns: string, query: string, headers: Record<string, string> = {}) =>
  api<DocumentList>("GET", `/v1/namespaces/${ns}/documents${query}`, undefined, headers);

/** An HTML page with nothing a reader sees: accepted, then failed by the pipeline. */
const unreadable = { text: "<script>nothing to read</script>", contentType: "text/html" };

async function writeAndSettle(ns: string, good: string[], bad: string[]): Promise<void> {
  const res = await api("POST", `/v1/namespaces/${ns}/documents`, {
    documents: [
      ...good.map((id) => ({ id, text: `Document ${id} is about herons and wetlands.` })),
      ...bad.map((id) => ({ id, ...unreadable })),
    ],
  });
  expect(res.status).toBe(202);
  for (const id of good) await waitForStatus(ns, id, "indexed");
  for (const id of bad) await waitForStatus(ns, id, "failed");
}

/** Every page of a listing, following nextCursor. */
async function allPages(ns: string, query: string): Promise<Listed[][]> {
  const pages: Listed[][] = [];
  let cursor: string | undefined;
  do {
    const res = await list(ns, `${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    pages.push(res.body.documents);
    cursor = res.body.nextCursor;
  } while (cursor !== undefined && pages.length < 20);
  return pages;
}

async function createKey(namespaces: string[], roles: string[]): Promise<string> {
  const res = await api<{ key: string }>("POST", "/v1/admin/keys", { name: "list test", namespaces, roles });
  expect(res.status).toBe(201);
  return res.body.key;
}

function expectProblem(
  res: { status: number; headers: Headers; body: unknown },
  status: number,
  code: string,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
}

describe("GET /v1/namespaces/{ns}/documents", () => {
  it("lists the failed documents with their reasons, and only those", async () => {
    const ns = freshNamespace("list");
    await writeAndSettle(ns, ["a-good", "c-good"], ["b-bad", "d-bad"]);

    const failed = await list(ns, "?status=failed");
    expect(failed.status).toBe(200);
    expect(failed.body.documents.map((d) => d.id)).toEqual(["b-bad", "d-bad"]);
    for (const d of failed.body.documents) {
      expect(d.status).toBe("failed");
      expect(d.error).toMatch(/no text/i);
    }
    expect(failed.body.nextCursor).toBeUndefined();

    const indexed = await list(ns, "?status=indexed");
    expect(indexed.body.documents.map((d) => [d.id, d.status, d.error])).toEqual([
      ["a-good", "indexed", undefined],
      ["c-good", "indexed", undefined],
    ]);
    expect((await list(ns, "?status=queued")).body.documents).toEqual([]);
    // Without a status: every document, in id order.
    expect((await list(ns, "")).body.documents.map((d) => d.id)).toEqual([
      "a-good",
      "b-bad",
      "c-good",
      "d-bad",
    ]);
  });

  it("pages through every document exactly once", async () => {
    const ns = freshNamespace("list");
    const good = Array.from({ length: 7 }, (_, i) => `doc-${String(i).padStart(2, "0")}`);
    await writeAndSettle(ns, good, ["bad-1", "bad-2"]);

    const pages = await allPages(ns, "?status=indexed&limit=3");
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(pages.flat().map((d) => d.id)).toEqual(good);

    const everything = await allPages(ns, "?limit=4");
    expect(everything.map((p) => p.length)).toEqual([4, 4, 1]);
    const ids = everything.flat().map((d) => d.id);
    expect(ids).toEqual([...good, "bad-1", "bad-2"].sort());
    expect(new Set(ids).size).toBe(ids.length);

    // A page exactly as long as what is left ends the listing: no empty page follows.
    const exact = await list(ns, "?status=failed&limit=2");
    expect(exact.body.documents).toHaveLength(2);
    expect(exact.body.nextCursor).toBeUndefined();
  });

  it("refuses a bad status, limit or cursor with a problem+json 400", async () => {
    const ns = freshNamespace("list");
    await writeAndSettle(ns, ["x1", "x2"], []);
    const first = await list(ns, "?status=indexed&limit=1");
    const cursor = first.body.nextCursor ?? "";
    expect(cursor).not.toBe("");

    for (const query of [
      "?status=broken",
      "?status=",
      "?limit=0",
      `?limit=${DOCUMENT_PAGE_LIMITS.maxLimit + 1}`,
      "?limit=ten",
      "?limit=1.5",
      `?cursor=${"A".repeat(DOCUMENT_PAGE_LIMITS.maxCursorChars + 1)}`,
    ]) {
      expectProblem(await list(ns, query), 400, "validation_failed");
    }
    for (const query of [
      "?status=indexed&cursor=not%20a%20cursor",
      "?status=indexed&cursor=eyJhIjoxfQ",
      // Issued for status=indexed: not a cursor of the failed documents, nor of all of them.
      `?status=failed&cursor=${cursor}`,
      `?cursor=${cursor}`,
    ]) {
      const res = await list(ns, query);
      expectProblem(res, 400, "invalid_cursor");
      expect(res.body).toMatchObject({ field: "cursor" });
    }
    // Nor is it a cursor of another namespace's listing.
    const other = freshNamespace("list");
    expectProblem(await list(other, `?status=indexed&cursor=${cursor}`), 400, "invalid_cursor");
    // The cursor itself still works where it was issued.
    const second = await list(ns, `?status=indexed&limit=1&cursor=${cursor}`);
    expect(second.body.documents.map((d) => d.id)).toEqual(["x2"]);
  });

  it("answers a key only for the namespaces it covers, with the search role", async () => {
    const mine = freshNamespace("lista");
    const theirs = freshNamespace("listb");
    await writeAndSettle(mine, ["m1"], []);
    await writeAndSettle(theirs, ["t1"], ["t2"]);
    const reader = await createKey([mine], ["search"]);
    const auth = (key: string) => ({ authorization: `Bearer ${key}` });

    const own = await list(mine, "?status=indexed", auth(reader));
    expect(own.body.documents.map((d) => d.id)).toEqual(["m1"]);
    for (const query of ["", "?status=failed", "?status=indexed"]) {
      const res = await list(theirs, query, auth(reader));
      expectProblem(res, 403, "forbidden");
      expect(JSON.stringify(res.body)).not.toMatch(/t1|t2/);
    }
    // The document routes' role: a write-only key reads no listing, even of its own namespace.
    const writer = await createKey([mine], ["write"]);
    expectProblem(await list(mine, "?status=indexed", auth(writer)), 403, "forbidden");
    expect((await list(mine, "", { authorization: "" })).status).toBe(401);
  });
});

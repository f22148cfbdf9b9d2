// The MCP server at /mcp, driven by the MCP SDK's own client through the Worker's fetch handler:
// the handshake, the tools' schemas, answers equal to the v1 API's, and the same key, role and
// namespace checks as the API.

import { env, exports } from "cloudflare:workers";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/scopes";
import { flushLocalMetrics } from "../../src/observe/local-dataset";
import { MAX_RESULTS } from "../../src/search/request";
import { listCoveredNamespaces } from "../../src/store/namespace-list";
import { bearer, createKey, send } from "../security/support";
import { api, freshNamespace, TEST_ORIGIN, writeIndexed } from "../support";
import { waitVectorsApplied } from "../support/search";

const DOCS = [
  {
    id: "photosynthesis",
    title: "Photosynthesis",
    text: "Plants capture sunlight with chlorophyll and turn light energy into chemical energy stored in glucose.",
    metadata: { category: "biology", year: 2020 },
  },
  {
    id: "volcano",
    title: "Volcanoes",
    text: "A volcano erupts when magma rises through the crust and escapes as lava, ash and gas.",
    metadata: { category: "geology", year: 2018 },
  },
];
const SECRET_DOCS = [
  {
    id: "secret",
    title: "Orbital kettle",
    text: "Tenant B keeps its launch codes for the orbital kettle in this document.",
  },
];

interface ToolAnswer {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
}

/** An MCP client connected to the Worker with the given key (none: no Authorization header). */
async function connect(key: string | null): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${TEST_ORIGIN}/mcp`), {
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    requestInit: key === null ? {} : { headers: bearer(key) },
  });
  // The client checks tool results against a tool's outputSchema with Ajv, which compiles code at
  // run time (refused in workerd); these tools declare no outputSchema, so nothing is checked.
  const client = new Client(
    { name: "edgesearch-test", version: "1.0.0" },
    {
      jsonSchemaValidator: {
        getValidator: () => (input) => ({ valid: true, data: input as never, errorMessage: undefined }),
      },
    },
  );
  await client.connect(transport);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  return (await client.callTool({ name, arguments: args })) as ToolAnswer;
}

const textOf = (answer: ToolAnswer) => answer.content.map((c) => c.text ?? "").join("\n");

describe("MCP server", () => {
  const tenantA = freshNamespace("mcpa");
  const tenantB = freshNamespace("mcpb");
  let keyA: string;

  beforeAll(async () => {
    await writeIndexed(tenantA, DOCS);
    await writeIndexed(tenantB, SECRET_DOCS);
    await waitVectorsApplied(tenantA, "sunlight plants magma lava", DOCS.length);
    // Tenant A's key: every namespace whose name starts with tenant A's prefix.
    keyA = (await createKey({ namespaces: [`${tenantA.split("-")[0]}-*`], roles: ["search"] })).key;
  });

  it("initializes and lists three tools whose schemas an agent can follow", async () => {
    const client = await connect(keyA);
    expect(client.getServerVersion()?.name).toBe("edgesearch");
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["get_document", "list_namespaces", "search"]);
    const search = tools.find((t) => t.name === "search");
    expect(search?.inputSchema.required).toEqual(expect.arrayContaining(["namespace", "query"]));
    const props = search?.inputSchema.properties as Record<string, Record<string, unknown>>;
    expect(props.mode?.enum).toEqual(["hybrid", "vector", "keyword"]);
    expect(props.topK).toMatchObject({ type: "integer", minimum: 1, maximum: MAX_RESULTS, default: 10 });
    expect(props.filter?.description).toContain("$in");
    expect(props).not.toHaveProperty("cache");
    // The deployment's filterable fields (FILTERABLE_FIELDS) are named for the agent.
    expect(search?.description).toContain("category, source, lang, year");
    await client.close();
  });

  it("answers a search with the results the HTTP API gives for the same request", async () => {
    const client = await connect(keyA);
    for (const mode of ["hybrid", "vector", "keyword"]) {
      const request = {
        query: "how do plants use sunlight",
        mode,
        topK: 5,
        filter: { year: { $gte: 2019 } },
      };
      const viaMcp = await call(client, "search", { namespace: tenantA, ...request });
      const viaApi = await api<Record<string, unknown>>(
        "POST",
        `/v1/namespaces/${tenantA}/search`,
        request,
        bearer(keyA),
      );
      expect(viaApi.status).toBe(200);
      expect(viaMcp.isError).toBeFalsy();
      const body = viaMcp.structuredContent ?? {};
      expect(body.results).toEqual(viaApi.body.results);
      expect((body.results as { id: string }[]).map((r) => r.id)).toEqual(["photosynthesis"]);
      expect(body.version).toBe(viaApi.body.version);
      // The text content carries the same answer, for clients that read only text.
      expect(JSON.parse(textOf(viaMcp))).toEqual(body);
    }
    await client.close();
  });

  it("writes a search metrics point per search, answered or refused, as the API does", async () => {
    const ns = freshNamespace("mcpm");
    await writeIndexed(ns, DOCS);
    const key = (await createKey({ namespaces: [ns], roles: ["search"] })).key;
    const client = await connect(key);
    const answered = await call(client, "search", { namespace: ns, query: "magma lava", mode: "keyword" });
    expect(answered.isError).toBeFalsy();
    const refused = await call(client, "search", {
      namespace: ns,
      query: "magma",
      filter: { colour: "red" },
    });
    expect(refused.isError).toBe(true);
    await client.close();

    await flushLocalMetrics(env.DB);
    const { results } = await env.DB.prepare(
      "SELECT blob3 AS mode, blob4 AS cache, blob7 AS code, double1 AS status, double2 AS results FROM local_metrics WHERE index1 = ?1 AND blob1 = 'search' ORDER BY id",
    )
      .bind(ns)
      .all<{ mode: string; cache: string; code: string | null; status: number; results: number }>();
    expect(results).toEqual([
      { mode: "keyword", cache: "miss", code: "", status: 200, results: 1 },
      { mode: "unknown", cache: "none", code: "invalid_filter", status: 400, results: 0 },
    ]);
  });

  it("gets a document's status as the API reports it, with its chunks' text", async () => {
    const client = await connect(keyA);
    const answer = await call(client, "get_document", { namespace: tenantA, id: "volcano" });
    const status = await api<Record<string, unknown>>(
      "GET",
      `/v1/namespaces/${tenantA}/documents/volcano`,
      undefined,
      bearer(keyA),
    );
    expect(answer.isError).toBeFalsy();
    expect(answer.structuredContent).toMatchObject({
      ...status.body,
      metadata: { category: "geology", year: 2018 },
    });
    const chunks = answer.structuredContent?.passages as { text: string }[];
    expect(chunks.map((c) => c.text).join(" ")).toContain("magma rises through the crust");

    const statusOnly = await call(client, "get_document", {
      namespace: tenantA,
      id: "volcano",
      chunkLimit: 0,
    });
    expect(statusOnly.structuredContent?.passages).toEqual([]);

    const missing = await call(client, "get_document", { namespace: tenantA, id: "no-such-doc" });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/^not_found \(404\)/);
    await client.close();
  });

  it("pages through a long document's chunks in order", async () => {
    const ns = `${tenantA}-long`;
    const sections = Array.from(
      { length: 12 },
      (_, i) =>
        `Section ${i + 1} of the kettle manual. ` +
        "The kettle boils water quickly and switches itself off when the water reaches the boil. ".repeat(6),
    );
    const manual = [{ id: "manual", title: "Kettle manual", text: sections.join("\n\n") }];
    await writeIndexed(ns, manual);
    const client = await connect(keyA);
    const first = await call(client, "get_document", { namespace: ns, id: "manual", chunkLimit: 1 });
    const total = first.structuredContent?.chunks as number;
    expect(total).toBeGreaterThan(2);
    const read: string[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const page = await call(client, "get_document", {
        namespace: ns,
        id: "manual",
        chunkOffset: offset,
        chunkLimit: 2,
      });
      const passages = page.structuredContent?.passages as { index: number; text: string }[];
      expect(passages.map((p) => p.index)).toEqual([offset, offset + 1].slice(0, passages.length));
      read.push(...passages.map((p) => p.text));
      offset = page.structuredContent?.nextChunkOffset as number | undefined;
    }
    expect(read).toHaveLength(total);
    expect(read[0]).toContain("Section 1 of");
    expect(read.at(-1)).toContain("Section 12 of");
    await client.close();
  });

  it("lists the namespaces the key covers, and no other tenant's", async () => {
    const client = await connect(keyA);
    const answer = await call(client, "list_namespaces", {});
    expect(answer.isError).toBeFalsy();
    const listed = answer.structuredContent as { patterns: string[]; namespaces: { namespace: string }[] };
    expect(listed.patterns).toEqual([`${tenantA.split("-")[0]}-*`]);
    const names = listed.namespaces.map((n) => n.namespace);
    expect(names).toContain(tenantA);
    expect(names).not.toContain(tenantB);
    expect(listed.namespaces.find((n) => n.namespace === tenantA)).toEqual({
      namespace: tenantA,
      documents: DOCS.length,
    });
    await client.close();
  });

  it("refuses tenant A's key on tenant B's namespace, saying nothing of its documents", async () => {
    const client = await connect(keyA);
    const attempts = [
      await call(client, "search", {
        namespace: tenantB,
        query: "orbital kettle launch codes",
        mode: "keyword",
      }),
      await call(client, "get_document", { namespace: tenantB, id: "secret" }),
      // A namespace that does not exist is refused the same way: no existence oracle.
      await call(client, "get_document", { namespace: "mcpb-nonexistent", id: "secret" }),
    ];
    for (const answer of attempts) {
      expect(answer.isError).toBe(true);
      expect(textOf(answer)).toBe("forbidden (403): this key does not grant access to this namespace.");
      expect(JSON.stringify(answer)).not.toMatch(/launch codes|Orbital kettle/);
    }
    await client.close();
  });

  it("answers bad arguments with a tool error naming the field, never a 500", async () => {
    const client = await connect(keyA);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ namespace: tenantA }, /^validation_failed \(400\): arguments\.query: /],
      [{ namespace: tenantA, query: "x", topK: 0 }, /arguments\.topK: /],
      [{ namespace: tenantA, query: "x", mode: "fuzzy" }, /arguments\.mode: /],
      [{ namespace: "Not A Namespace", query: "x" }, /arguments\.namespace: /],
      [{ namespace: tenantA, query: "x", extra: 1 }, /validation_failed/],
      [
        { namespace: tenantA, query: "x", filter: { author: "ann" } },
        /^invalid_filter \(400\): field "author" is not filterable.*\(arguments\.filter\.author\)\.$/,
      ],
      [{ namespace: tenantA, query: "x", filter: { year: { $regex: "2" } } }, /^invalid_filter \(400\)/],
      [{ namespace: tenantA, query: "x", cursor: "not-a-cursor" }, /^invalid_cursor \(400\)/],
    ];
    for (const [args, message] of cases) {
      const answer = await call(client, "search", args);
      expect(answer.isError, JSON.stringify(args)).toBe(true);
      expect(textOf(answer)).toMatch(message);
    }
    // An unknown tool is a JSON-RPC error (invalid params), as the protocol says.
    await expect(client.callTool({ name: "delete_everything", arguments: {} })).rejects.toThrow(
      /unknown tool: delete_everything/,
    );
    await client.close();
  });

  it("needs a key with the search role, like the API", async () => {
    await expect(connect(null)).rejects.toThrow();
    const noKey = await send({
      method: "POST",
      path: "/mcp",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(noKey.status).toBe(401);
    expect(noKey.headers.get("www-authenticate")).toBe('Bearer realm="edgesearch"');

    const writer = await createKey({ namespaces: [tenantA], roles: ["write"] });
    const writeOnly = await send({
      method: "POST",
      path: "/mcp",
      headers: { ...bearer(writer.key), "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(writeOnly.status).toBe(403);
  });

  it("follows the transport's rules: Origin, methods, protocol version, notifications", async () => {
    const post = (headers: Record<string, string>, body: unknown) =>
      send({
        method: "POST",
        path: "/mcp",
        headers: { ...bearer(keyA), "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const ping = { jsonrpc: "2.0", id: 7, method: "ping" };
    // A page on another origin (DNS rebinding) is refused before its key is looked at.
    expect((await post({ origin: "https://evil.example" }, ping)).status).toBe(403);
    expect((await post({ origin: TEST_ORIGIN }, ping)).json).toEqual({ jsonrpc: "2.0", id: 7, result: {} });
    expect((await post({ "mcp-protocol-version": "1999-01-01" }, ping)).status).toBe(400);
    expect((await post({}, { jsonrpc: "2.0", method: "notifications/initialized" })).status).toBe(202);
    const unknownMethod = await post({}, { jsonrpc: "2.0", id: 8, method: "resources/list" });
    expect(unknownMethod.json).toMatchObject({ id: 8, error: { code: -32601 } });
    const notJson = await send({
      method: "POST",
      path: "/mcp",
      headers: { ...bearer(keyA), "content-type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toMatchObject({ id: null, error: { code: -32700 } });
    const get = await send({
      method: "GET",
      path: "/mcp",
      headers: { ...bearer(keyA), accept: "text/event-stream" },
    });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    // An initialize naming an unknown revision is answered with the newest one.
    const init = await post(
      {},
      {
        jsonrpc: "2.0",
        id: 9,
        method: "initialize",
        params: { protocolVersion: "2024-01-01", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      },
    );
    expect(init.json).toMatchObject({ id: 9, result: { protocolVersion: "2025-11-25" } });
  });
});

describe("the namespaces a key's patterns cover", () => {
  const principal = (namespaces: string[]): Principal => ({
    keyId: "k",
    name: "k",
    namespaces,
    roles: ["search"],
    rateLimit: "standard",
    expiresAt: null,
  });
  const prefix = freshNamespace("cov");
  const names = [`${prefix}-a`, `${prefix}-a-1`, `${prefix}-ab`, `${prefix}_a`, `${prefix}xa`, `${prefix}-b`];

  beforeAll(async () => {
    await env.DB.batch(
      names.map((n) =>
        env.DB.prepare("INSERT INTO namespace_usage (namespace, documents) VALUES (?1, 1)").bind(n),
      ),
    );
    await env.DB.prepare("INSERT INTO namespace_usage (namespace, documents) VALUES (?1, 0)")
      .bind(`${prefix}-a-empty`)
      .run();
  });

  const list = async (patterns: string[]) =>
    (await listCoveredNamespaces([env.DB], principal(patterns), 1000)).namespaces
      .map((n) => n.namespace)
      .filter((n) => n.startsWith(prefix));

  it("matches prefixes and exact names as the API's pattern rule does", async () => {
    // "_" is no wildcard, a prefix covers only names that start with it, an exact name only itself.
    expect(await list([`${prefix}-a*`])).toEqual([`${prefix}-a`, `${prefix}-a-1`, `${prefix}-ab`]);
    expect(await list([`${prefix}-a`])).toEqual([`${prefix}-a`]);
    expect(await list([`${prefix}_*`])).toEqual([`${prefix}_a`]);
    expect(await list([`${prefix}-b`, `${prefix}x*`])).toEqual([`${prefix}-b`, `${prefix}xa`]);
    expect(await list(["*"])).toEqual([...names].sort());
  });

  it("keeps each statement within D1's 100 bound parameters, however many patterns", async () => {
    const many = Array.from({ length: 120 }, (_, i) => `${prefix}-none${i}-*`);
    expect(await list([...many, `${prefix}-b`])).toEqual([`${prefix}-b`]);
  });

  it("says when more namespaces match than it lists", async () => {
    const page = await listCoveredNamespaces([env.DB], principal([`${prefix}-a*`]), 2);
    expect(page).toEqual({
      namespaces: [
        { namespace: `${prefix}-a`, documents: 1 },
        { namespace: `${prefix}-a-1`, documents: 1 },
      ],
      truncated: true,
    });
  });
});

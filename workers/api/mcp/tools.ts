// The MCP tools: search, get_document and list_namespaces. Each validates its arguments with the
// API's own schemas and runs the same use cases and namespace checks as the v1 routes; an error
// comes back as a tool result with isError, never as a 500.
import { z } from "@hono/zod-openapi";
import type { Principal } from "../../../src/auth/scopes";
import { AppError } from "../../../src/errors";
import { getDocument } from "../../../src/ingest/requests";
import type { Logger } from "../../../src/observe/logger";
import { CURSOR_LIMITS } from "../../../src/search/cursor";
import { MAX_RESULTS } from "../../../src/search/request";
import { createTimer } from "../../../src/search/timer";
import { listCoveredNamespaces } from "../../../src/store/namespace-list";
import { DocumentIdSchema, NamespaceSchema } from "../../../src/validation";
import { VECTORIZE_LIMITS } from "../../../src/vectors/vector-index";
import { observeAnswer, type SearchObservation, writeSearchPoint } from "../../observe/search-point";
import { type Services, searchDeps } from "../../services";
import { requireNamespace } from "../auth";
import { documentStatus } from "../routes/documents";
import { runSearch, searchBody } from "../routes/search";
import { FilterSchema, SearchBody } from "../schemas";

export interface ToolContext {
  services: Services;
  principal: Principal;
  requestId: string;
  logger: Logger;
  /** Set by the search tool once it has an answer, for its metrics point. */
  searchObservation?: SearchObservation;
}

export interface ToolResult {
  [key: string]: unknown;
  content: { type: "text"; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

const MAX_CHUNK_PAGE = 100;
const MAX_NAMESPACES_LISTED = 1000;

const namespaceArg = NamespaceSchema.describe(
  "The namespace to read: lowercase letters, digits, '-' and '_' (list_namespaces shows the ones this key covers).",
);

const SearchInput = SearchBody.omit({ cache: true }).extend({
  namespace: namespaceArg,
  query: SearchBody.shape.query.describe(
    "What to look for, in natural language or keywords (1-2000 characters).",
  ),
  mode: SearchBody.shape.mode.describe(
    '"hybrid" (default): keyword and vector rankings fused, best for most questions; "vector": by meaning, ' +
      'even without shared words; "keyword": full-text match of the words (stemmed), best for names, codes and identifiers.',
  ),
  topK: SearchBody.shape.topK.describe(
    `Results per page, 1-${MAX_RESULTS} (default 10). Pages reach the ranking's first ${MAX_RESULTS} results.`,
  ),
  filter: FilterSchema.optional().describe(
    'Metadata conditions, all of which must hold. {"field": value} means equal; or one operator per field: ' +
      '{"field": {"$eq": v}}, {"$ne": v}, {"$in": [v, ...]}, {"$nin": [v, ...]}, or a range with one of ' +
      "$gt/$gte and/or one of $lt/$lte (numbers compare numerically, strings lexicographically). Values are " +
      `strings, numbers or booleans (type-strict: "2024" never equals 2024); strings at most ${VECTORIZE_LIMITS.maxIndexedStringBytes} bytes. ` +
      "Only the deployment's filterable fields are accepted (see the tool description).",
  ),
  rerank: SearchBody.shape.rerank.describe(
    "Reorder the best candidates with a cross-encoder: slower, often more precise (default false).",
  ),
  groupBy: SearchBody.shape.groupBy.describe(
    '"document" (default): the best passage of each document; "chunk": every matching passage.',
  ),
  includeText: SearchBody.shape.includeText.describe("Include each passage's text (default true)."),
  highlight: SearchBody.shape.highlight.describe(
    "true: add a snippet (the passage's best part) and the matched words' offsets to each result.",
  ),
  cursor: SearchBody.shape.cursor.describe(
    `The nextCursor of the previous page, sent with otherwise identical arguments. Expires after ${CURSOR_LIMITS.ttlMs / 60_000} minutes or when the namespace changes: then search again without it.`,
  ),
});

const GetDocumentInput = z.strictObject({
  namespace: namespaceArg,
  id: DocumentIdSchema.describe("The document's id, as a search result's id field gives it."),
  chunkOffset: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      "The first chunk to return, counting from 0 (default 0); nextChunkOffset gives the next page's.",
    ),
  chunkLimit: z
    .number()
    .int()
    .min(0)
    .max(MAX_CHUNK_PAGE)
    .default(20)
    .describe(`How many chunks of text to return, 0-${MAX_CHUNK_PAGE} (default 20; 0 for the status only).`),
});

const ListNamespacesInput = z.strictObject({});

interface Tool<S extends z.ZodType> {
  name: string;
  title: string;
  description: (filterable: readonly string[]) => string;
  input: S;
  run: (ctx: ToolContext, args: z.output<S>) => Promise<Record<string, unknown>>;
  /** A search tool: each call, answered or refused, writes a search metrics point as the API's searches do. */
  searches?: true;
}

const tool = <S extends z.ZodType>(t: Tool<S>) => t as unknown as Tool<z.ZodType>;

const TOOLS = [
  tool({
    name: "search",
    title: "Search documents",
    description: (filterable) =>
      "Search one namespace's documents. Returns ranked passages (chunks): document id, chunkId, score, title, " +
      "headings, text and metadata; version, degraded (features that were unavailable) and nextCursor when more " +
      "results follow. Use list_namespaces first if you do not know the namespace, and get_document to read more " +
      "of a result's document. Filterable metadata fields on this deployment: " +
      `${filterable.join(", ") || "(none)"}.`,
    input: SearchInput,
    run: async (ctx, args) => {
      const { namespace, ...request } = args;
      const timer = createTimer(searchDeps(ctx.services).clock);
      const answer = await runSearch(
        ctx.services,
        ctx.principal,
        namespace,
        { ...request, cache: "default" },
        timer,
      );
      ctx.searchObservation = observeAnswer(timer, answer, request.mode);
      return searchBody(answer);
    },
    searches: true,
  }),
  tool({
    name: "get_document",
    title: "Get a document",
    description: () =>
      "A document's indexing status (queued, indexed, failed or deleted), chunk count, version, title, error and " +
      "updatedAt (as GET /v1/namespaces/{ns}/documents/{id} answers), with its metadata, content type and the " +
      "text of its chunks that searches find, in order, a page at a time (consecutive chunks overlap by a few " +
      "words; a document being re-indexed shows its previous text until it is indexed). " +
      "nextChunkOffset is present when more chunks follow.",
    input: GetDocumentInput,
    run: async (ctx, { namespace, id, chunkOffset, chunkLimit }) => {
      requireNamespace(ctx.principal, namespace);
      const { store } = ctx.services;
      const row = await getDocument(store, namespace, id);
      // The text searches find: the chunks of the namespace's active version. (The row's version
      // is the one the document was last indexed into, which a version swap leaves behind.)
      const active =
        row.status === "deleted" || chunkLimit === 0 ? null : await ctx.services.versions.active(namespace);
      const page =
        active === null
          ? []
          : await store.documentChunks(namespace, id, active.id, {
              offset: chunkOffset,
              limit: chunkLimit + 1,
            });
      const chunks = page.slice(0, chunkLimit);
      return {
        namespace,
        ...documentStatus(row),
        contentType: row.contentType,
        metadata: row.metadata,
        chunkOffset,
        passages: chunks.map((c) => ({
          index: c.index,
          chunkId: c.chunkId,
          headings: c.headings,
          text: c.text,
        })),
        ...(page.length > chunkLimit ? { nextChunkOffset: chunkOffset + chunkLimit } : {}),
      };
    },
  }),
  tool({
    name: "list_namespaces",
    title: "List namespaces",
    description: () =>
      "The namespaces this API key may read that hold documents, with their document counts, in name order " +
      `(at most ${MAX_NAMESPACES_LISTED}; truncated says whether more exist), and the key's namespace patterns: ` +
      '"docs" is that namespace, "acme-*" every namespace whose name starts with "acme-", "*" every namespace.',
    input: ListNamespacesInput,
    run: async (ctx) => {
      const listed = await listCoveredNamespaces(
        ctx.services.pool.members(),
        ctx.principal,
        MAX_NAMESPACES_LISTED,
      );
      return { patterns: ctx.principal.namespaces, ...listed };
    },
  }),
];

// Isolate-lifetime: each tool's input JSON Schema, generated once from its zod schema.
let schemas: Map<string, unknown> | undefined;

function inputSchema(t: Tool<z.ZodType>): unknown {
  schemas ??= new Map(TOOLS.map((x) => [x.name, z.toJSONSchema(x.input, { io: "input" })]));
  return schemas.get(t.name);
}

/** The tools/list answer. */
export function listTools(filterable: readonly string[]) {
  return {
    tools: TOOLS.map((t) => ({
      name: t.name,
      title: t.title,
      description: t.description(filterable),
      inputSchema: inputSchema(t),
      annotations: { readOnlyHint: true, openWorldHint: false },
    })),
  };
}

export function findTool(name: string): Tool<z.ZodType> | undefined {
  return TOOLS.find((t) => t.name === name);
}

function errorResult(message: string, detail: Record<string, unknown>): ToolResult {
  return { content: [{ type: "text", text: message }], structuredContent: detail, isError: true };
}

/** Runs a tool; every failure, of its arguments or of the use case, is a result with isError. */
export async function callTool(ctx: ToolContext, t: Tool<z.ZodType>, args: unknown): Promise<ToolResult> {
  if (!t.searches) return runTool(ctx, t, args);
  const started = performance.now();
  const result = await runTool(ctx, t, args);
  const detail = result.isError ? result.structuredContent : undefined;
  writeSearchPoint(ctx.services, {
    namespace: (args as { namespace?: unknown } | null)?.namespace,
    status: detail ? Number(detail.status) : 200,
    code: detail ? String(detail.code) : undefined,
    seen: ctx.searchObservation,
    elapsedMs: performance.now() - started,
  });
  return result;
}

async function runTool(ctx: ToolContext, t: Tool<z.ZodType>, args: unknown): Promise<ToolResult> {
  const parsed = t.input.safeParse(args ?? {});
  if (!parsed.success) {
    const errors = parsed.error.issues.map((i) => ({
      field: ["arguments", ...i.path.map(String)].join("."),
      message: i.message,
    }));
    const text = errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    return errorResult(`validation_failed (400): ${text}`, {
      code: "validation_failed",
      status: 400,
      errors,
    });
  }
  try {
    const body = await t.run(ctx, parsed.data);
    return { content: [{ type: "text", text: JSON.stringify(body) }], structuredContent: body };
  } catch (err) {
    if (err instanceof AppError) {
      if (err.status >= 500) ctx.logger.error("mcp.tool_failed", { tool: t.name, code: err.code, err });
      // The API names request fields from the body ("body.filter.year"); here they are arguments.
      const field = err.field?.replace(/^body\./, "arguments.");
      const retry = err.retryable ? " Retrying later may succeed." : "";
      return errorResult(
        `${err.code} (${err.status}): ${err.message}${field ? ` (${field})` : ""}.${retry}`,
        {
          code: err.code,
          status: err.status,
          ...(field ? { field } : {}),
          requestId: ctx.requestId,
        },
      );
    }
    ctx.logger.error("mcp.tool_crashed", { tool: t.name, err });
    return errorResult(
      `internal (500): an internal error occurred; quote requestId ${ctx.requestId} when reporting it.`,
      { code: "internal", status: 500, requestId: ctx.requestId },
    );
  }
}

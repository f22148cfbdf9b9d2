// Request and response schemas of API v1. They validate requests and generate /openapi.json.
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { CONVERTED_CONTENT_TYPES } from "../../src/ingest/convert/converter";
import { CURSOR_LIMITS } from "../../src/search/cursor";
import { FACET_LIMITS } from "../../src/search/facets";
import { MAX_RESULTS } from "../../src/search/request";
import { SNIPPET_LIMITS, TAG_FORBIDDEN } from "../../src/search/snippet";
import { MIN_PREFIX_CHARS } from "../../src/store/keyword";
import {
  DocumentIdSchema,
  ExpiresAtSchema,
  MetadataSchema,
  NamespaceSchema,
  TitleSchema,
} from "../../src/validation";
import { problemExample } from "./examples";

export const MAX_BATCH_DOCUMENTS = 1000;
export const MAX_QUERY_CHARS = 2000;

export const NamespaceParams = z.object({
  ns: NamespaceSchema.openapi({ param: { name: "ns", in: "path" }, example: "docs" }),
});

export const DocumentParams = NamespaceParams.extend({
  id: DocumentIdSchema.openapi({ param: { name: "id", in: "path" }, example: "getting-started" }),
});

const DocumentFields = {
  text: z.string().openapi({ description: "The document's content, in the given content type." }),
  title: TitleSchema.optional(),
  contentType: z
    .string()
    .max(128)
    .optional()
    .openapi({ description: "text/plain (default), text/markdown, text/html or application/json" }),
  metadata: MetadataSchema.optional().openapi({
    description: "String, number or boolean values; searches can filter on the configured fields.",
    example: { category: "guide", year: 2024 },
  }),
  expiresAt: ExpiresAtSchema.optional().openapi({
    description:
      "RFC 3339 time after which the document leaves search results at once and is deleted by the next purge (every 5 minutes). Omitted: never expires. Rewriting the document without it clears it.",
    example: "2027-01-31T00:00:00Z",
  }),
};

export const PutDocumentBody = z.strictObject(DocumentFields).openapi("PutDocumentRequest");

export const BatchDocument = z
  .strictObject({ id: DocumentIdSchema, ...DocumentFields })
  .openapi("BatchDocument");

export const BatchBody = z
  .strictObject({
    documents: z.array(BatchDocument).min(1).max(MAX_BATCH_DOCUMENTS),
  })
  .openapi("BatchDocumentsRequest");

export const AcceptedDocument = z
  .object({ id: z.string(), status: z.literal("queued") })
  .openapi("AcceptedDocument");
export const AcceptedBatch = z
  .object({ accepted: z.number().int(), ids: z.array(z.string()) })
  .openapi("AcceptedBatch");

export const DocumentStatus = z
  .object({
    id: z.string(),
    status: z.enum(["queued", "indexed", "failed", "deleted"]),
    chunks: z.number().int(),
    version: z.string().nullable(),
    title: z.string().optional(),
    error: z.string().optional(),
    updatedAt: z.string(),
    expiresAt: z.string().optional().openapi({
      description: "When the document expires (RFC 3339, UTC); absent when it never does.",
    }),
    redactions: z
      .object({
        email: z.number().int().optional(),
        phone: z.number().int().optional(),
        card: z.number().int().optional(),
        iban: z.number().int().optional(),
        ip: z.number().int().optional(),
      })
      .optional()
      .openapi({
        description:
          "Personal data replaced in the indexed text, by kind (the namespace's redaction settings); absent when none was.",
        example: { email: 2 },
      }),
  })
  .openapi("DocumentStatus");

export const Accepted = z.object({ accepted: z.boolean() }).openapi("Accepted");

const FilterValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export const FilterSchema = z
  .record(
    z.string(),
    z.union([
      FilterValue,
      z.record(z.string(), z.union([FilterValue, z.array(z.union([z.string(), z.number(), z.boolean()]))])),
    ]),
  )
  .openapi("MetadataFilter", {
    description: "Vectorize's filter language: $eq $ne $in $nin $lt $lte $gt $gte, implicit AND.",
    example: { category: "guide", year: { $gte: 2020 } },
  });

const HighlightTag = z
  .string()
  .min(1)
  .max(SNIPPET_LIMITS.maxTagChars)
  .refine((tag) => !TAG_FORBIDDEN.test(tag), "no control, format or line-separator characters");

export const HighlightSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      snippetLength: z
        .number()
        .int()
        .min(SNIPPET_LIMITS.minLength)
        .max(SNIPPET_LIMITS.maxLength)
        .optional()
        .openapi({
          description: `Most characters (UTF-16 code units) in a snippet; default ${SNIPPET_LIMITS.defaultLength}.`,
        }),
      preTag: HighlightTag.optional().openapi({
        description: 'Inserted before each match in snippetHtml; default "<mark>".',
      }),
      postTag: HighlightTag.optional().openapi({
        description: 'Inserted after each match in snippetHtml; default "</mark>".',
      }),
    }),
  ])
  .openapi("Highlight", {
    description:
      "Give each result a snippet (the passage with the most distinct query words) and the ranges of the " +
      "words in it that the keyword index matches (stemmed: a query for run marks running). true, or options; " +
      "preTag or postTag also asks for snippetHtml, the snippet HTML-escaped with the tags around matches.",
    example: { snippetLength: 160, preTag: "<em>", postTag: "</em>" },
  });

/** The explain option of a search and of similar documents. */
export const ExplainFlag = z
  .boolean()
  .default(false)
  .openapi({
    description:
      "Give each result legs: its rank and score in the keyword leg (FTS5 bm25) and the vector leg " +
      "(cosine similarity), the fused first-stage score and, when reranked, the reranker's score. The " +
      "ranking is the same as without it, and a search's cursors page either way.",
  });

export const SearchBody = z
  .strictObject({
    query: z.string().trim().min(1).max(MAX_QUERY_CHARS),
    topK: z
      .number()
      .int()
      .min(1)
      .max(MAX_RESULTS)
      .default(10)
      .openapi({ description: `Results on a page; pages reach the ranking's first ${MAX_RESULTS} results.` }),
    filter: FilterSchema.optional(),
    mode: z.enum(["hybrid", "vector", "keyword"]).default("hybrid"),
    rerank: z
      .boolean()
      .default(false)
      .openapi({
        description:
          "Reorder the best candidates (RERANK_CANDIDATES, default 50) with a cross-encoder " +
          "(@cf/baai/bge-reranker-base); if it is unavailable the answer comes unreranked, with " +
          '"rerank_unavailable" in degraded.',
      }),
    groupBy: z.enum(["document", "chunk"]).default("document"),
    includeText: z.boolean().default(true),
    highlight: HighlightSchema.optional(),
    facets: z
      .array(z.string())
      .max(FACET_LIMITS.maxFields)
      .refine((fields) => new Set(fields).size === fields.length, "each facet field at most once")
      .optional()
      .openapi({
        description:
          "Filterable metadata fields (FILTERABLE_FIELDS) to count documents per value of, over what the search " +
          "matched with the filter applied: every keyword match in keyword and hybrid modes (hybrid adds the " +
          "vector candidates), the vector candidates in vector mode; facetScope says which. Answered on the " +
          "first page only (without a cursor).",
        example: ["category", "year"],
      }),
    facetLimit: z
      .number()
      .int()
      .min(1)
      .max(FACET_LIMITS.maxValues)
      .default(FACET_LIMITS.defaultValues)
      .openapi({
        description: "Values answered per facet, most documents first; the rest are counted in otherCount.",
      }),
    prefix: z
      .boolean()
      .default(false)
      .openapi({
        description:
          "As-you-type search: the query's last word also matches the words it starts, in the keyword leg " +
          `("photosynth" finds "photosynthesis"). A last word of fewer than ${MIN_PREFIX_CHARS} characters ` +
          "is matched as a whole word. The vector leg embeds the query as it is: in vector mode this applies " +
          "only when the answer falls back to keyword search.",
      }),
    explain: ExplainFlag,
    cache: z.enum(["default", "bypass"]).default("default"),
    userId: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .openapi({
        description:
          "A stable, opaque id of the user or session searching. While the namespace runs an experiment it " +
          "keeps the user in one arm (hashed with the experiment's id into 10,000 buckets); without it each " +
          "search is assigned at random. Not stored.",
        example: "u-4821",
      }),
    cursor: z
      .string()
      .min(1)
      .max(CURSOR_LIMITS.maxChars)
      .optional()
      .openapi({
        description:
          "The nextCursor of the previous page, sent with that request's query, filter, mode, groupBy, rerank, prefix " +
          "and topK (400 invalid_cursor otherwise). Pages are slices of one ranking, the one topK " +
          `${MAX_RESULTS} answers. A cursor expires after ${CURSOR_LIMITS.ttlMs / 60_000} minutes, and when the ` +
          "namespace is written or its active version changes: 410 cursor_stale, search again without a cursor.",
      }),
  })
  .openapi("SearchRequest");

const LegScoreSchema = z
  .object({
    rank: z.number().int().min(1).openapi({ description: "Position in the leg's ranking, from 1." }),
    score: z.number().openapi({ description: "The leg's own score." }),
  })
  .nullable();

export const ResultLegsSchema = z
  .object({
    keyword: LegScoreSchema.openapi({
      description:
        "The keyword leg's rank and bm25 score (higher is better); null when it did not find the chunk or did not run.",
    }),
    vector: LegScoreSchema.openapi({
      description:
        "The vector leg's rank and cosine similarity; null when it did not find the chunk or did not run.",
    }),
    fused: z.number().openapi({
      description:
        "The first-stage score the ranking is ordered by. With both legs, reciprocal rank fusion: " +
        "keywordWeight / (k + keyword.rank) + vectorWeight / (k + vector.rank), a missing leg adding 0 " +
        "(HYBRID_RRF_K, HYBRID_KEYWORD_WEIGHT, HYBRID_VECTOR_WEIGHT); with one leg, that leg's score.",
    }),
    rerank: z
      .number()
      .optional()
      .openapi({ description: "The reranker's score, when it rescored the result." }),
  })
  .openapi("ResultLegs", {
    description:
      "With explain: where each leg ranked the result's chunk, and the scores its place comes from.",
    example: { keyword: { rank: 1, score: 2.91 }, vector: { rank: 3, score: 0.41 }, fused: 0.032266 },
  });

export const SearchResultSchema = z
  .object({
    id: z.string(),
    chunkId: z.string(),
    score: z.number(),
    title: z.string().optional(),
    text: z.string().optional(),
    headings: z.array(z.string()).optional(),
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    snippet: z
      .string()
      .optional()
      .openapi({ description: "With highlight: the best passage of the chunk's text." }),
    highlights: z
      .array(z.object({ start: z.number().int(), end: z.number().int() }))
      .optional()
      .openapi({
        description:
          "With highlight: the matched words in snippet, as [start, end) offsets in UTF-16 code units " +
          "(JavaScript string indices), in order and never overlapping.",
      }),
    snippetTruncated: z.object({ start: z.boolean(), end: z.boolean() }).optional().openapi({
      description:
        "With highlight: whether the chunk's text goes on before / after the snippet (show an ellipsis).",
    }),
    snippetHtml: z.string().optional().openapi({
      description: "With preTag or postTag: the snippet HTML-escaped, the tags around each match.",
    }),
    legs: ResultLegsSchema.optional(),
  })
  .openapi("SearchResult");

export const FacetSchema = z
  .object({
    values: z.array(
      z.object({
        value: z.union([z.string(), z.number(), z.boolean()]),
        count: z.number().int().openapi({ description: "Documents holding the value." }),
      }),
    ),
    otherCount: z.number().int().openapi({
      description:
        "Documents holding a value not among values (0: every value is listed), as Elasticsearch's sum_other_doc_count.",
    }),
  })
  .openapi("Facet", {
    description:
      "The field's values, most documents first, then false, true, numbers ascending, strings by code point.",
  });

export const SearchResponseSchema = z
  .object({
    results: z.array(SearchResultSchema),
    version: z.string(),
    cache: z.enum(["hit", "miss"]),
    degraded: z.array(z.string()),
    searchId: z.string().optional().openapi({
      description:
        "Identifies this answer for feedback (POST /v1/namespaces/{ns}/feedback) for 24 hours; signed, not stored.",
    }),
    arm: z.enum(["control", "candidate"]).optional().openapi({
      description:
        "While an experiment runs: the arm this search was assigned to (version names the index version).",
    }),
    experiment: z.string().optional().openapi({ description: "While an experiment runs: its id." }),
    facets: z.record(z.string(), FacetSchema).optional().openapi({
      description:
        "With facets, on the first page: each field asked for, even one no matched document holds.",
    }),
    facetScope: z
      .enum(["all-matches", "best-matches", "candidates"])
      .optional()
      .openapi({
        description:
          "What facets count: all-matches (every keyword match, and in hybrid mode the vector candidates too), " +
          `best-matches (the query matched more than ${FACET_LIMITS.maxMatches.toLocaleString("en-US")} chunks: the documents of the best of them), ` +
          "candidates (vector mode: the vector candidates).",
      }),
    nextCursor: z.string().optional().openapi({
      description:
        "Present when more results follow: send it as cursor, with the same request, for the next page.",
    }),
  })
  .openapi("SearchResponse");

const QuotaFigure = z.object({ used: z.number().int(), limit: z.number().int() });
export const NamespaceQuotasSchema = z
  .object({ documents: QuotaFigure, chunks: QuotaFigure, bytes: QuotaFigure })
  .openapi("NamespaceQuotas", {
    description: "Documents, chunks (vectors per live version) and stored text bytes: used and allowed.",
  });

export const NamespaceStatsSchema = z
  .object({
    namespace: z.string(),
    documents: z.number().int(),
    chunks: z.number().int(),
    pending: z.number().int(),
    failed: z.number().int(),
    activeVersion: z.string(),
    quotas: NamespaceQuotasSchema,
  })
  .openapi("NamespaceStats");

export const NamespaceDeleteSchema = z
  .object({ accepted: z.number().int(), remaining: z.boolean() })
  .openapi("NamespaceDelete");

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    requestId: z.string(),
    code: z.string(),
    field: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: "validation_failed: every field that failed, with why." }),
  })
  .openapi("Problem");

export const problem = (description: string, example?: z.output<typeof ProblemSchema>) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema, ...(example ? { example } : {}) } },
});

/**
 * The problem+json answers the /v1 operations share, defined once under components/responses
 * (registerErrorResponses) and referenced from each operation through errorResponses.
 */
const SHARED_ERRORS = {
  BadRequest: {
    description: "Invalid request",
    example: {
      ...problemExample(
        "validation_failed",
        "body.query: Too small: expected string to have >=1 characters",
        "body.query",
      ),
      errors: [{ field: "body.query", message: "Too small: expected string to have >=1 characters" }],
    },
  },
  Unauthorized: {
    description: "Missing or invalid API key",
    example: problemExample("unauthorized", "invalid API key"),
  },
  Forbidden: {
    description: "The key lacks the route's role or does not cover the namespace",
    example: problemExample("forbidden", "this key does not grant access to this namespace"),
  },
  PayloadTooLarge: {
    description: "Too large",
    example: problemExample("payload_too_large", "request body is over 8388608 bytes"),
  },
  UnsupportedMediaType: {
    description: "Unsupported content type",
    example: problemExample("unsupported_media_type", "request bodies must be application/json"),
  },
  RateLimited: {
    description: "Rate limited",
    example: problemExample("rate_limited", 'rate limit of the key\'s "standard" tier exceeded'),
  },
  InternalError: {
    description: "Internal error",
    example: problemExample("internal", "an internal error occurred; quote the requestId when reporting it"),
  },
  Unavailable: { description: "Unavailable; retry after Retry-After seconds" },
} satisfies Record<string, { description: string; example?: z.output<typeof ProblemSchema> }>;

/**
 * A reference to one of the shared error responses. Typed as the problem+json response it stands
 * for: @hono/zod-openapi accepts any Response from a handler when one of its route's responses
 * has no content, and the type keeps each handler's answers checked against its route's schemas.
 */
const errorRef = (name: keyof typeof SHARED_ERRORS) =>
  ({ $ref: `#/components/responses/${name}` }) as { $ref: string } & ReturnType<typeof problem>;

/** The shared error responses by status, as every /v1 operation lists them. */
export const errorResponses = {
  400: errorRef("BadRequest"),
  401: errorRef("Unauthorized"),
  403: errorRef("Forbidden"),
  413: errorRef("PayloadTooLarge"),
  415: errorRef("UnsupportedMediaType"),
  429: errorRef("RateLimited"),
  500: errorRef("InternalError"),
  503: errorRef("Unavailable"),
};

/** Puts Problem under components/schemas and each shared error under components/responses. */
export function registerErrorResponses(registry: OpenAPIHono["openAPIRegistry"]): void {
  registry.register("Problem", ProblemSchema);
  for (const [name, response] of Object.entries(SHARED_ERRORS)) {
    const example = "example" in response ? { example: response.example } : {};
    registry.registerComponent("responses", name, {
      description: response.description,
      content: {
        "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" }, ...example },
      },
    });
  }
}

/**
 * PUT /documents/{id}'s body: the JSON document, or the file itself under its own content type.
 * Not `required`, so the JSON validator passes a file through (a file body is checked by the route).
 */
export const documentBody = <T extends z.ZodType>(schema: T, example: z.input<T>) => ({
  required: false,
  description:
    "The document as JSON, or a PDF, Word, Excel, CSV or image file as sent (converted to Markdown when indexed; local mode converts PDF, Word and CSV only).",
  content: {
    "application/json": { schema, example },
    ...Object.fromEntries(
      Object.entries(CONVERTED_CONTENT_TYPES).map(([type, ext]) => [
        type,
        { schema: z.string().openapi({ format: "binary" }), example: `(the bytes of a .${ext} file)` },
      ]),
    ),
  },
});

/** A JSON request body; its example, typed by the schema, is what /docs shows. */
export const jsonBody = <T extends z.ZodType>(schema: T, example?: z.input<T>) => ({
  required: true,
  content: { "application/json": { schema, ...(example === undefined ? {} : { example }) } },
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string, example?: z.output<T>) => ({
  description,
  content: { "application/json": { schema, ...(example === undefined ? {} : { example }) } },
});

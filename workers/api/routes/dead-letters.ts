// Dead letters (admin role): list the ingest messages that exhausted their retries or could
// never be processed, with the recorded reason, and re-enqueue them once the cause is fixed.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Principal } from "../../../src/auth/scopes";
import { AppError } from "../../../src/errors";
import { replayDeadLetters } from "../../../src/ingest/replay";
import { d1 } from "../../../src/store/d1";
import { requires } from "../auth";
import { replayExample } from "../examples";
import { errorResponses, jsonBody, jsonResponse } from "../schemas";
import type { AppEnv } from "../types";

export const DeadLetter = z
  .object({
    id: z.number().int(),
    messageId: z.string(),
    namespace: z.string().nullable(),
    documentId: z.string().nullable(),
    error: z.string().nullable(),
    attempts: z.number().int(),
    receivedAt: z.string(),
    replayedAt: z.string().nullable(),
  })
  .openapi("DeadLetter");

const ListQuery = z.object({
  pending: z
    .enum(["true", "false"])
    .default("true")
    .transform((v) => v === "true")
    .openapi({ description: "Only dead letters not replayed yet" }),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const ReplayBody = z
  .strictObject({
    ids: z.array(z.number().int().positive()).min(1).max(1000).optional(),
    limit: z.number().int().min(1).max(1000).default(100),
  })
  .openapi("ReplayRequest");

const RowSchema = z.object({
  id: z.number(),
  message_id: z.string(),
  namespace: z.string().nullable(),
  doc_id: z.string().nullable(),
  body: z.string(),
  error: z.string().nullable(),
  attempts: z.number(),
  received_at: z.number(),
  replayed_at: z.number().nullable(),
});
type Row = z.infer<typeof RowSchema>;

const toApi = (r: Row) => ({
  id: r.id,
  messageId: r.message_id,
  namespace: r.namespace,
  documentId: r.doc_id,
  error: r.error,
  attempts: r.attempts,
  receivedAt: new Date(r.received_at).toISOString(),
  replayedAt: r.replayed_at === null ? null : new Date(r.replayed_at).toISOString(),
});

/**
 * Dead letters the caller may see, filtered in SQL (so a page is never filled with other
 * tenants' rows): exact namespaces, prefixes, or everything (including rows with no namespace)
 * for "*".
 */
async function selectRows(
  db: D1Database,
  principal: Principal,
  pending: boolean,
  limit: number,
  ids?: number[],
): Promise<Row[]> {
  const where = [pending ? "replayed_at IS NULL" : "1 = 1"];
  const binds: unknown[] = [];
  if (!principal.namespaces.includes("*")) {
    const scope = principal.namespaces.map((pattern) => {
      if (pattern.endsWith("*")) {
        const prefix = pattern.slice(0, -1);
        binds.push(prefix.length, prefix);
        return `substr(namespace, 1, ?${binds.length - 1}) = ?${binds.length}`;
      }
      binds.push(pattern);
      return `namespace = ?${binds.length}`;
    });
    where.push(`namespace IS NOT NULL AND (${scope.join(" OR ")})`);
  }
  if (ids) {
    where.push(`id IN (SELECT value FROM json_each(?${binds.length + 1}))`);
    binds.push(JSON.stringify(ids));
  }
  binds.push(limit);
  const { results } = await d1("list dead letters", () =>
    db
      .prepare(`SELECT * FROM dead_letters WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?${binds.length}`)
      .bind(...binds)
      .all(),
  );
  return results.map((r) => RowSchema.parse(r));
}

export function registerDeadLetters(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/dead-letters",
      operationId: "listDeadLetters",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "Dead-lettered ingest messages within the caller's namespaces",
      request: { query: ListQuery },
      responses: {
        200: jsonResponse(z.object({ deadLetters: z.array(DeadLetter) }), "Dead letters"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { pending, limit } = c.req.valid("query");
      const rows = await selectRows(c.env.DB, c.get("principal"), pending, limit);
      return c.json({ deadLetters: rows.map(toApi) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/dead-letters/replay",
      operationId: "replayDeadLetters",
      middleware: requires("admin"),
      tags: ["admin"],
      summary: "Re-enqueue dead letters (all pending ones up to limit, or the given ids)",
      request: { body: jsonBody(ReplayBody, replayExample) },
      responses: {
        200: jsonResponse(z.object({ replayed: z.array(z.number().int()) }), "Re-enqueued"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { ids, limit } = c.req.valid("json");
      // Rows without a namespace (unparseable messages) have nothing to replay into.
      const rows = (
        await selectRows(c.env.DB, c.get("principal"), true, ids ? ids.length : limit, ids)
      ).filter((r) => r.namespace !== null);
      if (ids && rows.length === 0) throw new AppError("not_found", "no pending dead letters with those ids");
      const { pool } = c.get("services");
      const replayable = await replayDeadLetters(
        c.env.DB,
        (namespace) => pool.writes(namespace),
        c.env.INGEST_QUEUE,
        rows,
      );
      c.get("logger").info("dead_letters.replayed", { count: replayable.length });
      return c.json({ replayed: replayable.map((r) => r.id) }, 200);
    },
  );
}

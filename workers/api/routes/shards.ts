// Vector index shards (admin role): the indexes namespaces are spread over, how full each is and
// whether it takes new namespaces. The counts span every tenant, so only a key that covers every
// namespace ("*") sees them; a narrower admin key sees the indexes and whether they take new
// namespaces, and the index of each of its own namespaces is on its versions.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { ShardMapClient } from "../../../src/shards/client";
import { databaseViews, storagePolicy } from "../../../src/shards/databases";
import { emptyUsage, fullness, REFUSALS, refusal, shardPolicy } from "../../../src/shards/policy";
import { requires } from "../auth";
import { errorResponses, jsonResponse } from "../schemas";
import type { AppEnv } from "../types";

const ShardIndexSchema = z
  .object({
    index: z.string(),
    /** Listed in VECTORIZE_SHARDS (or the default index when that is empty). */
    inPool: z.boolean(),
    acceptsNamespaces: z.boolean(),
    refusal: z.enum(REFUSALS).nullable(),
    namespaces: z.number().int().nullable(),
    vectors: z.number().int().nullable(),
    fullness: z.number().nullable(),
    dimensions: z.number().int().nullable(),
    vectorsReportedAt: z.string().nullable(),
  })
  .openapi("ShardIndex");

export const ShardDatabaseSchema = z
  .object({
    database: z.string(),
    /** Listed in D1_DATA_DATABASES (or DB when that is empty). */
    inPool: z.boolean(),
    acceptsNamespaces: z.boolean(),
    /** Its size has reached D1_FILL_THRESHOLD of D1_MAX_BYTES. */
    pastFillThreshold: z.boolean(),
    namespaces: z.number().int().nullable(),
    bytes: z.number().int().nullable(),
    fullness: z.number().nullable(),
    bytesReportedAt: z.string().nullable(),
  })
  .openapi("ShardDatabase");

export const ShardsResponseSchema = z
  .object({
    defaultIndex: z.string(),
    pool: z.array(z.string()),
    limits: z.object({
      maxVectors: z.number().int(),
      maxNamespaces: z.number().int(),
      fillThreshold: z.number(),
    }),
    indexes: z.array(ShardIndexSchema),
    /** The D1 databases namespaces' documents are spread over (docs/architecture.md, "Storage"). */
    databases: z.array(ShardDatabaseSchema),
  })
  .openapi("Shards");
export type ShardsResponse = z.infer<typeof ShardsResponseSchema>;

export function registerShards(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/shards",
      operationId: "listShards",
      middleware: requires("admin"),
      tags: ["admin"],
      summary:
        "The vector indexes and D1 databases namespaces are spread over: namespaces, vectors or bytes, fullness, and whether each takes new namespaces",
      responses: {
        200: jsonResponse(ShardsResponseSchema, "Indexes (counts only for a key covering every namespace)"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const services = c.get("services");
      const policy = shardPolicy(services.config, services.versions.defaults);
      const status = await new ShardMapClient(c.env.SHARD_MAP).status();
      const seesCounts = c.get("principal").namespaces.includes("*");
      const known = new Map(status.indexes.map((u) => [u.index, u]));
      const names = [...new Set([...policy.indexes, policy.defaultIndex, ...known.keys()])];
      const indexes = names.map((name) => {
        const usage = known.get(name) ?? emptyUsage(name);
        const why = refusal(usage, policy);
        return {
          index: name,
          inPool: policy.indexes.includes(name),
          acceptsNamespaces: why === null,
          refusal: why,
          namespaces: seesCounts ? usage.namespaces : null,
          vectors: seesCounts ? usage.vectors : null,
          fullness: seesCounts ? Number(fullness(usage, policy).toFixed(6)) : null,
          dimensions: usage.dimensions,
          vectorsReportedAt:
            seesCounts && usage.reportedAt !== null ? new Date(usage.reportedAt).toISOString() : null,
        };
      });
      const databases = databaseViews(status.databases, storagePolicy(services.config), seesCounts);
      c.header("cache-control", "no-store");
      return c.json(
        {
          defaultIndex: policy.defaultIndex,
          pool: policy.indexes,
          limits: {
            maxVectors: policy.maxVectors,
            maxNamespaces: policy.maxNamespaces,
            fillThreshold: policy.fillThreshold,
          },
          indexes,
          databases,
        },
        200,
      );
    },
  );
}

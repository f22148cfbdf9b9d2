// The role a key needs is the one the route declares (`middleware: requires(role)`), whatever its
// path looks like: an app built from the real middleware with probe routes whose paths suggest
// other roles than the ones they declare.

import { env } from "cloudflare:workers";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/auth/scopes";
import { requireKey, requires } from "../../workers/api/auth";
import { requestContext } from "../../workers/api/middleware";
import { onError } from "../../workers/api/problem";
import type { AppEnv } from "../../workers/api/types";
import { api } from "../support";

const NS = "declared-roles";
/** Handlers that ran, by route. */
const reached: string[] = [];

function probeApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.use("*", requestContext);
  app.use("/v1/*", requireKey);
  const probe = (path: string, name: string, role?: Role) =>
    app.openapi(
      createRoute({
        method: "get",
        path,
        ...(role ? { middleware: requires(role) } : {}),
        request: { params: z.object({ ns: z.string() }) },
        responses: { 200: { description: "Reached" } },
      }),
      (c) => {
        reached.push(name);
        return c.json({ reached: name }, 200);
      },
    );
  // Under /v1/admin, yet declared for any key with the search role.
  probe("/v1/admin/{ns}/open", "open", "search");
  // A plain read of a namespace, yet declared admin-only.
  probe("/v1/namespaces/{ns}/locked", "locked", "admin");
  // Declares nothing.
  probe("/v1/namespaces/{ns}/undeclared", "undeclared");
  app.onError(onError);
  return app;
}

async function keyWith(roles: Role[]): Promise<string> {
  const res = await api<{ key: string }>("POST", "/v1/admin/keys", {
    name: `declared-roles ${roles.join("+")}`,
    namespaces: [NS],
    roles,
    rateLimit: "high",
  });
  expect(res.status).toBe(201);
  return res.body.key;
}

let app: OpenAPIHono<AppEnv>;
let searchKey: string;
let adminKey: string;

async function get(path: string, key: string): Promise<number> {
  const res = await app.request(path, { headers: { authorization: `Bearer ${key}` } }, env);
  return res.status;
}

beforeAll(async () => {
  app = probeApp();
  searchKey = await keyWith(["search"]);
  adminKey = await keyWith(["admin"]);
});

describe("a route's declared role", () => {
  it("lets a search key call a route under /v1/admin that declares search", async () => {
    expect(await get(`/v1/admin/${NS}/open`, searchKey)).toBe(200);
    expect(reached).toContain("open");
  });

  it("refuses a search key on a namespace read that declares admin, and lets an admin key in", async () => {
    reached.length = 0;
    expect(await get(`/v1/namespaces/${NS}/locked`, searchKey)).toBe(403);
    expect(reached).toEqual([]);
    expect(await get(`/v1/namespaces/${NS}/locked`, adminKey)).toBe(200);
    expect(reached).toEqual(["locked"]);
  });

  it("fails closed on a route that declares no role: no key reaches its handler", async () => {
    reached.length = 0;
    expect(await get(`/v1/namespaces/${NS}/undeclared`, adminKey)).toBe(500);
    expect(await get(`/v1/namespaces/${NS}/undeclared`, searchKey)).toBe(500);
    expect(reached).toEqual([]);
  });

  it("still answers 404 for a path no route matches, once the key is valid", async () => {
    expect(await get(`/v1/namespaces/${NS}/nothing-here`, searchKey)).toBe(404);
  });
});

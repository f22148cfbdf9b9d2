// The Hono app: middleware, routes, one error handler, OpenAPI document.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import { loadConfig } from "../../src/config";
import { AppError } from "../../src/errors";
import { observeRequest, recordSearch, traceLogger } from "../observe/middleware";
import { requireKey } from "./auth";
import { requestContext, requireJson, withServices } from "./middleware";
import { onError, problemResponse, zodProblem } from "./problem";
import { registerBackup } from "./routes/backup";
import { registerBackupPolicy } from "./routes/backup-policy";
import { registerDashboard } from "./routes/dashboard";
import { registerDeadLetters } from "./routes/dead-letters";
import { registerDocs } from "./routes/docs";
import { registerDocuments } from "./routes/documents";
import { registerErasures } from "./routes/erasures";
import { registerExperiments } from "./routes/experiments";
import { registerHealth } from "./routes/health";
import { registerKeys } from "./routes/keys";
import { MCP_PATH, mcpOrigin, registerMcp } from "./routes/mcp";
import { registerMoves } from "./routes/moves";
import { registerNamespaces } from "./routes/namespaces";
import { registerObjects } from "./routes/objects";
import { registerQuotas } from "./routes/quotas";
import { registerRedaction } from "./routes/redaction";
import { registerSearch } from "./routes/search";
import { registerShards } from "./routes/shards";
import { registerSimilar } from "./routes/similar";
import { registerVersions } from "./routes/versions";
import { registerErrorResponses } from "./schemas";
import type { AppEnv } from "./types";

export { openApiConfig } from "./routes/docs";

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // One validation hook for every route: a problem+json naming the field.
    defaultHook: (result, c) => {
      if (!result.success)
        return zodProblem(c, result.error, result.target === "json" ? "body" : result.target);
    },
  });

  app.use(
    "*",
    cors({
      origin: (origin, c) => {
        const allowed = loadConfig(c.env).corsOrigins;
        return allowed.includes("*") || allowed.includes(origin) ? origin : null;
      },
      allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
      allowHeaders: ["authorization", "content-type", "x-request-id", "traceparent", "mcp-protocol-version"],
      exposeHeaders: ["x-request-id", "server-timing", "x-cost-counters", "retry-after", "traceparent"],
      maxAge: 600,
    }),
  );
  app.use("*", observeRequest);
  app.use("*", requestContext);
  app.use("*", traceLogger);
  app.use(
    "*",
    secureHeaders({
      strictTransportSecurity: "max-age=31536000; includeSubDomains",
      xFrameOptions: "DENY",
      referrerPolicy: "no-referrer",
      crossOriginResourcePolicy: "same-origin",
    }),
  );
  app.use("*", async (c, next) => {
    await next();
    // JSON answers never load anything; a page (/docs) sets its own policy.
    if (!c.res.headers.has("content-security-policy")) {
      c.res.headers.set("content-security-policy", "default-src 'none'; frame-ancestors 'none'");
    }
  });
  // /mcp is checked like /v1 (its Origin first): the same keys, roles, rate limits and body limits.
  app.use(MCP_PATH, mcpOrigin);
  for (const path of ["/v1/*", MCP_PATH]) {
    app.use(path, requireKey);
    app.use(path, withServices);
  }
  app.use("/readyz", withServices);
  for (const path of ["/v1/*", MCP_PATH]) {
    app.use(path, requireJson);
    app.use(path, async (c, next) =>
      bodyLimit({
        maxSize: loadConfig(c.env).maxRequestBytes,
        onError: () => {
          throw new AppError(
            "payload_too_large",
            `request body is over ${loadConfig(c.env).maxRequestBytes} bytes`,
          );
        },
      })(c, next),
    );
  }

  app.use("/v1/namespaces/:ns/search", recordSearch);
  app.use("/v1/namespaces/:ns/documents/:id/similar", recordSearch);

  registerHealth(app);
  registerDocuments(app);
  registerErasures(app);
  registerObjects(app);
  registerSearch(app);
  registerSimilar(app);
  registerNamespaces(app);
  registerQuotas(app);
  registerRedaction(app);
  registerVersions(app);
  registerExperiments(app);
  registerBackup(app);
  registerBackupPolicy(app);
  registerKeys(app);
  registerDeadLetters(app);
  registerShards(app);
  registerMoves(app);
  registerDashboard(app);
  registerDocs(app);
  registerErrorResponses(app.openAPIRegistry);
  registerMcp(app);

  app.notFound((c) =>
    problemResponse(c, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.onError(onError);
  return app;
}

// Per-request plumbing: request id, config, logger and services on c.var; JSON content-type
// enforcement for bodies; response headers.
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../../src/config";
import { createLogger } from "../../src/observe/logger";
import { parseFaultPlan } from "../../src/resilience/faults";
import { buildServices } from "../services";
import { problemResponse } from "./problem";
import type { AppEnv } from "./types";

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  c.set("requestId", requestId);
  const config = loadConfig(c.env);
  const logger = createLogger(config.logLevel, { requestId });
  c.set("config", config);
  c.set("logger", logger);
  await next();
  c.header("x-request-id", requestId);
};

/** The adapters, for routes that use them (not /healthz, /docs, /openapi.json). */
export const withServices: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = c.get("config");
  // Test/dev configurations only: a request may name faults to inject into its dependencies.
  const faults = config.faultInjection ? parseFaultPlan(c.req.header("x-edgesearch-faults")) : null;
  c.set(
    "services",
    buildServices(c.env, config, c.get("logger"), {
      defer: (work) => c.executionCtx.waitUntil(work),
      // /mcp's tools only read: searches, and the document reads a search leads to.
      path:
        c.req.method === "POST" && (c.req.path.endsWith("/search") || c.req.path === "/mcp")
          ? "search"
          : "ingest",
      faults,
      requestUrl: c.req.url,
    }),
  );
  await next();
};

/** Bodies are JSON: anything else is a 415 before it reaches a validator. */
export const requireJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method === "POST" || c.req.method === "PUT" || c.req.method === "PATCH") {
    const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") {
      return problemResponse(c, "unsupported_media_type", "request bodies must be application/json");
    }
  }
  await next();
};

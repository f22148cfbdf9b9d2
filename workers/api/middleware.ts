// Per-request plumbing: request id, config, logger and services on c.var; JSON content-type
// enforcement for bodies; response headers.
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../../src/config";
import { CONVERTED_CONTENT_TYPES, convertedType } from "../../src/ingest/convert/converter";
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

/** The one route that also takes a file as its body: PUT /v1/namespaces/{ns}/documents/{id}. */
const FILE_BODY_PATH = /^\/v1\/namespaces\/[^/]+\/documents\/[^/]+$/;

/**
 * Bodies are JSON, or on FILE_BODY_PATH a file of a converted type: anything else is a 415 before
 * it reaches a validator.
 */
export const requireJson: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method === "POST" || c.req.method === "PUT" || c.req.method === "PATCH") {
    const header = c.req.header("content-type") ?? "";
    const type = header.split(";")[0]?.trim().toLowerCase();
    if (c.req.method === "PUT" && FILE_BODY_PATH.test(c.req.path)) {
      if (type !== "application/json" && convertedType(header) === null) {
        return problemResponse(
          c,
          "unsupported_media_type",
          `a document is application/json, or a file of one of these types: ${Object.keys(CONVERTED_CONTENT_TYPES).join(", ")}`,
        );
      }
    } else if (type !== "application/json") {
      return problemResponse(c, "unsupported_media_type", "request bodies must be application/json");
    }
  }
  await next();
};

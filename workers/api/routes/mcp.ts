// The MCP server at /mcp (Streamable HTTP, stateless): the search tools for agents, behind the same
// keys, roles, namespace checks and rate limits as /v1. Stateless because every tool call stands
// alone: no Mcp-Session-Id is issued, so any isolate in any location can answer any request, and
// there is no server-to-client stream (GET and DELETE are 405, as the transport allows).
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { loadConfig } from "../../../src/config";
import { requires } from "../auth";
import {
  JSONRPC_ERRORS,
  negotiateVersion,
  PROTOCOL_VERSION_HEADER,
  parseMessage,
  rpcError,
  rpcResult,
  supportedVersionHeader,
} from "../mcp/protocol";
import { callTool, findTool, listTools } from "../mcp/tools";
import type { AppEnv } from "../types";

export const MCP_PATH = "/mcp";

const SERVER_INFO = { name: "edgesearch", title: "edgesearch", version: "1.0.0" };

const INSTRUCTIONS =
  "Semantic and keyword search over the documents of this key's namespaces. Call list_namespaces to see " +
  "them, search to find passages, and get_document to read a document's status and text.";

/**
 * DNS rebinding: "Servers MUST validate the Origin header on all incoming connections ... If the
 * Origin header is present and invalid, servers MUST respond with HTTP 403 Forbidden"
 * (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning).
 * Valid: the Worker's own origin, or one CORS_ORIGINS allows. Clients outside a browser send none.
 */
function originAllowed(c: Context<AppEnv>): boolean {
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  if (origin === new URL(c.req.url).origin) return true;
  const allowed = loadConfig(c.env).corsOrigins;
  return allowed.includes("*") || allowed.includes(origin);
}

function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  return accept
    .split(",")
    .map((part) => part.split(";")[0]?.trim().toLowerCase())
    .some((type) => type === "application/json" || type === "application/*" || type === "*/*");
}

/** Refuses a request whose Origin is not allowed, before its key is looked at. */
export const mcpOrigin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!originAllowed(c)) {
    return c.json(rpcError(null, JSONRPC_ERRORS.invalidRequest, "origin not allowed"), 403);
  }
  await next();
};

export function registerMcp(app: OpenAPIHono<AppEnv>) {
  app.on(["GET", "DELETE"], MCP_PATH, requires("search"), (c) =>
    c.json(
      rpcError(
        null,
        JSONRPC_ERRORS.invalidRequest,
        "this server is stateless: send JSON-RPC messages by POST",
      ),
      405,
      { allow: "POST" },
    ),
  );

  app.post(MCP_PATH, requires("search"), async (c) => {
    if (!acceptsJson(c.req.header("accept"))) {
      return c.json(
        rpcError(null, JSONRPC_ERRORS.invalidRequest, "Accept must include application/json"),
        406,
      );
    }
    if (!supportedVersionHeader(c.req.header(PROTOCOL_VERSION_HEADER))) {
      return c.json(
        rpcError(null, JSONRPC_ERRORS.invalidRequest, `unsupported ${PROTOCOL_VERSION_HEADER}`),
        400,
      );
    }
    const message = parseMessage(await c.req.text());
    if (message.kind === "invalid") return c.json(message.reply, 400);
    // Notifications (notifications/initialized, cancellations) and responses need no answer.
    if (message.kind === "notification") return c.body(null, 202);

    const { id, method, params } = message;
    const config = c.get("config");
    switch (method) {
      case "initialize":
        return c.json(
          rpcResult(id, {
            protocolVersion: negotiateVersion(params.protocolVersion),
            capabilities: { tools: { listChanged: false } },
            serverInfo: SERVER_INFO,
            instructions: INSTRUCTIONS,
          }),
        );
      case "ping":
        return c.json(rpcResult(id, {}));
      case "tools/list":
        return c.json(rpcResult(id, listTools(config.filterableFields)));
      case "tools/call": {
        const tool = typeof params.name === "string" ? findTool(params.name) : undefined;
        if (!tool) {
          return c.json(rpcError(id, JSONRPC_ERRORS.invalidParams, `unknown tool: ${String(params.name)}`));
        }
        const result = await callTool(
          {
            services: c.get("services"),
            principal: c.get("principal"),
            requestId: c.get("requestId"),
            logger: c.get("logger"),
          },
          tool,
          params.arguments,
        );
        return c.json(rpcResult(id, result));
      }
      default:
        return c.json(rpcError(id, JSONRPC_ERRORS.methodNotFound, `method not found: ${method}`));
    }
  });
}

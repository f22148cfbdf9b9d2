// JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it, for a stateless server: one message
// per POST, a request answered with one JSON response, notifications and responses acknowledged
// with 202. https://modelcontextprotocol.io/specification/2025-11-25/basic/transports
// Written here rather than taken from @modelcontextprotocol/sdk: its Server and
// WebStandardStreamableHTTPServerTransport add 61 KiB to the minified bundle even with Ajv
// aliased out (227 KiB with it), more than the 1 MiB budget leaves (scripts/check-bundle.ts).
// The SDK's own client checks this server in test/integration/mcp.test.ts.
import { z } from "zod";

/**
 * Protocol revisions that speak Streamable HTTP, newest first; an initialize naming another is
 * answered with the newest (https://modelcontextprotocol.io/specification/2025-11-25/basic/lifecycle#version-negotiation).
 */
export const PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;

/**
 * What a request without an MCP-Protocol-Version header is taken to speak: "the server SHOULD
 * assume protocol version 2025-03-26" (2025-11-25/basic/transports#protocol-version-header).
 */
export const DEFAULT_PROTOCOL_VERSION = "2025-03-26";

/** The header a client sends on every request after initialize. */
export const PROTOCOL_VERSION_HEADER = "mcp-protocol-version";

export const JSONRPC_ERRORS = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

const Id = z.union([z.string(), z.number().int()]);

const Message = z.union([
  // A request (with an id) or a notification (without).
  z.object({
    jsonrpc: z.literal("2.0"),
    id: Id.optional(),
    method: z.string().min(1),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  // A response to a request the server sent; this server sends none, so it is only acknowledged.
  z.object({ jsonrpc: z.literal("2.0"), id: Id, result: z.unknown() }),
  z.object({ jsonrpc: z.literal("2.0"), id: Id.nullable(), error: z.unknown() }),
]);

export type JsonRpcId = z.infer<typeof Id>;

export type Incoming =
  | { kind: "request"; id: JsonRpcId; method: string; params: Record<string, unknown> }
  | { kind: "notification" }
  | { kind: "invalid"; reply: JsonRpcError };

export interface JsonRpcError {
  jsonrpc: "2.0";
  id: JsonRpcId | null;
  error: { code: number; message: string };
}

export function rpcError(id: JsonRpcId | null, code: number, message: string): JsonRpcError {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

export function rpcResult(id: JsonRpcId, result: unknown) {
  return { jsonrpc: "2.0" as const, id, result };
}

/** A POST body as one JSON-RPC message. */
export function parseMessage(text: string): Incoming {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: "invalid", reply: rpcError(null, JSONRPC_ERRORS.parseError, "the body is not JSON") };
  }
  if (Array.isArray(raw)) {
    // Batches were removed from the protocol in 2025-06-18; no current client sends them.
    return {
      kind: "invalid",
      reply: rpcError(
        null,
        JSONRPC_ERRORS.invalidRequest,
        "JSON-RPC batches are not supported: send one message",
      ),
    };
  }
  const parsed = Message.safeParse(raw);
  if (!parsed.success) {
    return {
      kind: "invalid",
      reply: rpcError(null, JSONRPC_ERRORS.invalidRequest, "the body is not a JSON-RPC 2.0 message"),
    };
  }
  const message = parsed.data;
  if ("method" in message && message.id !== undefined) {
    return { kind: "request", id: message.id, method: message.method, params: message.params ?? {} };
  }
  return { kind: "notification" };
}

/** The revision to answer an initialize with: the client's, if this server speaks it. */
export function negotiateVersion(requested: unknown): string {
  return PROTOCOL_VERSIONS.find((v) => v === requested) ?? PROTOCOL_VERSIONS[0];
}

/** Whether a request's MCP-Protocol-Version header names a revision this server speaks. */
export function supportedVersionHeader(header: string | undefined): boolean {
  const version = header?.trim() || DEFAULT_PROTOCOL_VERSION;
  return PROTOCOL_VERSIONS.some((v) => v === version);
}

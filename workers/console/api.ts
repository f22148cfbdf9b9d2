// The console's way into the API: a request to the app's own routes, in this isolate, made with the
// signed-in key's principal. The routes check roles, namespaces and rate limits as for any client.
import type { Context } from "hono";
import { asPrincipal } from "../api/auth";
import type { ApiFetch, ConsoleEnv } from "./types";

export interface ApiAnswer<T> {
  status: number;
  ok: boolean;
  body: T;
  headers: Headers;
}

export interface ProblemBody {
  status: number;
  code?: string;
  detail?: string;
}

export async function callApi<T>(
  c: Context<ConsoleEnv>,
  api: ApiFetch,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiAnswer<T>> {
  const request = new Request(new URL(path, c.req.url), {
    method,
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      "x-request-id": c.get("requestId"),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const response = await api(asPrincipal(request, c.get("principal")), c.env, c.executionCtx);
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: response.status, ok: response.ok, body: parsed as T, headers: response.headers };
}

/** The problem of a failed answer, for problemBox. */
export function problemOf(answer: ApiAnswer<unknown>): ProblemBody {
  const b = answer.body as Partial<ProblemBody> | null;
  return { status: answer.status, code: b?.code, detail: b?.detail };
}

// Hono's typing of the console: the API's bindings and variables, and the page's own.
import type { ExecutionContext } from "hono";
import type { Session } from "../../src/auth/session";
import type { AppEnv } from "../api/types";

export interface ConsoleEnv {
  Bindings: AppEnv["Bindings"];
  Variables: AppEnv["Variables"] & {
    /** The CSP nonce of this response's style. */
    nonce: string;
    session: Session | undefined;
    /** The synchronizer token the session's forms carry. */
    csrf: string | undefined;
  };
}

/** How the console reaches the API: the app's own fetch, in this isolate. */
export type ApiFetch = (
  request: Request,
  env: AppEnv["Bindings"],
  ctx: ExecutionContext,
) => Promise<Response>;

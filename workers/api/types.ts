// Hono's typing of the app: bindings and the per-request variables set by middleware.
import type { Principal } from "../../src/auth/scopes";
import type { Config } from "../../src/config";
import type { Logger } from "../../src/observe/logger";
import type { WorkerEnv } from "../env";
import type { Services } from "../services";

export interface AppEnv {
  Bindings: WorkerEnv;
  Variables: {
    requestId: string;
    config: Config;
    logger: Logger;
    services: Services;
    principal: Principal;
  };
}

// The Hono app: middleware, routes, one error handler, OpenAPI document.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { loadConfig } from "../../src/config";
import { AppError } from "../../src/errors";
import { requestContext, requireJson } from "./middleware";
import { onError, problemResponse, zodProblem } from "./problem";
import { registerDocs } from "./routes/docs";
import { registerDocuments } from "./routes/documents";
import { registerHealth } from "./routes/health";
import { registerNamespaces } from "./routes/namespaces";
import { registerSearch } from "./routes/search";
import type { AppEnv } from "./types";

export function createApp(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // One validation hook for every route: a problem+json naming the field.
    defaultHook: (result, c) => {
      if (!result.success)
        return zodProblem(c, result.error, result.target === "json" ? "body" : result.target);
    },
  });

  app.use("*", requestContext);
  app.use("/v1/*", requireJson);
  app.use("/v1/*", async (c, next) =>
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

  registerHealth(app);
  registerDocuments(app);
  registerSearch(app);
  registerNamespaces(app);
  registerDocs(app);

  app.notFound((c) =>
    problemResponse(c, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`),
  );
  app.onError(onError);
  return app;
}

// Writes the API's OpenAPI document to a file without a running server: the Hono app is bundled
// for Node and asked for the document that /openapi.json serves. `npm run lint:openapi` lints it.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { importBundled } from "./bench/node-bundle.ts";
import { parseCommandLine, run, UsageError } from "./lib/args.ts";

const USAGE = `Usage: node scripts/openapi.ts [--out FILE] [--server URL]

Builds the OpenAPI 3.1 document of the API from its route schemas, as GET /openapi.json serves it.
  --out FILE    where to write it (default: build/openapi.json)
  --server URL  the API's URL in the document (default: /, the origin the document is served
                from; GET /openapi.json names its own origin)
  -h, --help    show this help`;

const ROOT = path.join(import.meta.dirname, "..");

/** workers/api/app.ts, as far as this script uses it (its own types need the Workers runtime's). */
interface AppModule {
  createApp(): { getOpenAPI31Document(config: object): unknown };
  openApiConfig(origin: string): object;
}

async function main(argv: string[]): Promise<number> {
  const values = parseCommandLine(argv, {
    out: { type: "string" },
    server: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const server = typeof values.server === "string" ? values.server : "/";
  if (!server.startsWith("/") && !URL.canParse(server)) {
    throw new UsageError(`--server: not a URL or an absolute path: ${server}`);
  }
  const out = typeof values.out === "string" ? values.out : path.join(ROOT, "build", "openapi.json");

  const { createApp, openApiConfig } = await importBundled<AppModule>(
    path.join(ROOT, "workers", "api", "app.ts"),
    "edgesearch-openapi-",
  );
  const document = createApp().getOpenAPI31Document(openApiConfig(server));
  const text = `${JSON.stringify(document, null, 2)}\n`;
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, text);
  console.log(`wrote ${path.relative(process.cwd(), out)} (${Buffer.byteLength(text)} bytes)`);
  return 0;
}

process.exitCode = await run(main, USAGE);

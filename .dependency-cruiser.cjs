// The layering `npm run lint` enforces (depcruise): workers/ composes the Worker (entry, routes,
// Durable Object classes, queue consumer) from the logic in src/; scripts/ is tooling that may use
// src/; client/ (the published API client) stands alone and the Worker never imports it; nothing
// the Worker bundles imports scripts/ or test/; no file-level import cycles.
/** @type {import("dependency-cruiser").IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "src-not-to-workers",
      comment: "src/ is the logic; workers/ composes it. Move what src/ needs from workers/ into src/.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^workers/" },
    },
    {
      name: "src-not-to-scripts",
      comment: "src/ is bundled into the Worker; scripts/ is tooling. Move the shared code into src/.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^scripts/" },
    },
    {
      name: "workers-not-to-scripts",
      comment: "workers/ is bundled into the Worker; scripts/ is tooling. Move the shared code into src/.",
      severity: "error",
      from: { path: "^workers/" },
      to: { path: "^scripts/" },
    },
    {
      name: "service-not-to-client",
      comment: "client/ is the published API client; the Worker answers the API, it does not call it.",
      severity: "error",
      from: { path: "^(src|workers)/" },
      to: { path: "^client/" },
    },
    {
      name: "client-self-contained",
      comment:
        "client/ is published on its own: it may import only its own files (its types come from " +
        "the OpenAPI document, generated into client/src/api.ts).",
      severity: "error",
      from: { path: "^client/" },
      to: { pathNot: "^client/" },
    },
    {
      name: "not-to-test",
      comment: "Test code (fakes, helpers, fixtures) stays out of the Worker and the tooling.",
      severity: "error",
      from: { path: "^(src|workers|scripts|client)/" },
      to: { path: "^test/" },
    },
    {
      name: "no-circular",
      comment: "Import cycles, type-only ones included: move the shared piece into a module both can import.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "not-to-unresolvable",
      comment:
        "An import the checker cannot resolve is an import it cannot check. Runtime modules " +
        "(cloudflare:*, node:*) and Vite's ?raw suffix are resolved by workerd, Node and Vite.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, pathNot: "^cloudflare:" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist|client/dist|\\.wrangler|test/fixtures)/" },
    // TypeScript 7.0 has no compiler API for depcruise to parse with; @swc/core parses .ts, .mts
    // and .d.mts and always reports type-only imports (they shape the layers too).
    parser: "swc",
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".mts", ".d.mts", ".mjs", ".js", ".d.ts", ".json"],
    },
  },
};

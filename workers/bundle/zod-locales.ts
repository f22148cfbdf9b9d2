// Stands in for zod's locales/index.js in the deploy bundle (wrangler.toml [alias]). Nothing here
// translates zod's messages: zod keeps its English default (classic/external.js imports
// locales/en.js on its own path), and only the `z.locales` namespace is left empty. Without this,
// @hono/zod-openapi's extendZodWithOpenApi(z) keeps all of `z` reachable, and with it zod's 40-odd
// other locales: 364 KiB of the bundle that nothing calls.
export {};

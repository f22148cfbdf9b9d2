// Whether the Cache API layer of the result cache works for a request, and the URL its entries
// are addressed under. Cloudflare's docs: "any Cache API operations in the Cloudflare Workers
// dashboard editor, Playground previews, and any *.workers.dev deployments will have no impact
// ... Only Workers deployed to custom domains have access to functional cache operations"
// (https://developers.cloudflare.com/workers/runtime-apis/cache/). On such a host the layer is
// inactive: nothing is put or matched, and /readyz and the metrics say so. The same rule applies
// locally, so a test or `npm run dev` request sent with a *.workers.dev Host behaves as production.

export type CacheApiInactiveReason = "workers-dev" | "no-request" | "no-runtime";

export type CacheApiLayer =
  | {
      state: "active";
      cache: Cache;
      /** Entries are addressed under this URL: the request's own origin and path. */
      base: string;
    }
  | { state: "inactive"; reason: CacheApiInactiveReason; detail: string };

const DETAIL: Record<CacheApiInactiveReason, string> = {
  "workers-dev":
    "served on *.workers.dev, where Cache API operations have no effect; route a custom domain to the Worker (docs/runbooks/deploy.md)",
  "no-request": "no request host (background work)",
  "no-runtime": "the runtime has no Cache API",
};

function inactive(reason: CacheApiInactiveReason): CacheApiLayer {
  return { state: "inactive", reason, detail: DETAIL[reason] };
}

export function isWorkersDevHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "workers.dev" || host.endsWith(".workers.dev");
}

/**
 * The layer for a request to `requestUrl`: active, with entries addressed on the request's own
 * host and path (never an invented host), or inactive with the reason. The path keeps every
 * entry's URL inside the route the request came through, so a request for that URL reaches the
 * Worker (which runs before the cache) and is never answered from the cache by the zone.
 */
export function cacheApiLayer(requestUrl: string | null, cache: Cache | null): CacheApiLayer {
  if (requestUrl === null) return inactive("no-request");
  if (cache === null) return inactive("no-runtime");
  const url = new URL(requestUrl);
  if (isWorkersDevHost(url.hostname)) return inactive("workers-dev");
  return { state: "active", cache, base: `${url.origin}${url.pathname}` };
}

/** How the layer shows in metrics and /readyz: "active" or "inactive:<reason>". */
export function cacheApiLabel(layer: CacheApiLayer): string {
  return layer.state === "active" ? "active" : `inactive:${layer.reason}`;
}

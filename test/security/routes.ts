// Every route of the HTTP API, with what it needs to be called validly: the one table the
// security, isolation and fuzz suites iterate, checked against /openapi.json so that a new route
// cannot ship without its security cases.

export type Role = "search" | "write" | "admin";
export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What a route's path and body are filled with. */
export interface RouteParams {
  /** The namespace in the path (namespaced routes), or the one a created key would cover (admin). */
  ns: string;
  /** A document id (document routes). */
  docId: string;
  /** An API key id (key routes). */
  keyId: string;
}

export interface RouteSpec {
  method: Method;
  /** The path as /openapi.json spells it. */
  template: string;
  /** The role a key needs for this route. */
  role: Role;
  /** Whether the path names a namespace that the key's patterns must cover. */
  namespaced: boolean;
  /** Whether a successful call changes stored state. */
  writes: boolean;
  /** A body the route accepts, or undefined when it takes none. */
  body?: (p: RouteParams) => unknown;
  /**
   * What a valid call answers on a namespace with no history, when that is not a 2xx: activating
   * the active version, retiring it, and rolling back without a previous version are conflicts.
   */
  freshStatus?: number;
}

const seg = encodeURIComponent;
/** A backup or restore id that no namespace has. */
const BACKUP_ID = "20260101T000000Z-00000000";

export const ROUTES: readonly RouteSpec[] = [
  {
    method: "PUT",
    template: "/v1/namespaces/{ns}/documents/{id}",
    role: "write",
    namespaced: true,
    writes: true,
    body: () => ({ text: "A document written by the security suite.", title: "Written", metadata: { n: 1 } }),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/documents/{id}",
    role: "search",
    namespaced: true,
    writes: false,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/documents",
    role: "search",
    namespaced: true,
    writes: false,
  },
  {
    method: "DELETE",
    template: "/v1/namespaces/{ns}/documents/{id}",
    role: "write",
    namespaced: true,
    writes: true,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/documents",
    role: "write",
    namespaced: true,
    writes: true,
    body: (p) => ({
      documents: [
        { id: `${p.docId}-batch-1`, text: "First batch document." },
        { id: `${p.docId}-batch-2`, text: "Second batch document.", title: "Second" },
      ],
    }),
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/objects",
    role: "admin",
    namespaced: true,
    writes: true,
    body: (p) => ({
      documents: [{ id: `${p.docId}-object`, text: "A document written as an R2 object.", title: "Object" }],
    }),
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/search",
    role: "search",
    namespaced: true,
    writes: false,
    body: () => ({ query: "document", topK: 5, includeText: true }),
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/documents/{id}/similar",
    role: "search",
    namespaced: true,
    writes: false,
    body: () => ({ topK: 5, includeText: true }),
    // The document does not exist (or was deleted by the route table's DELETE before).
    freshStatus: 404,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}",
    role: "search",
    namespaced: true,
    writes: false,
  },
  {
    method: "DELETE",
    template: "/v1/namespaces/{ns}",
    role: "write",
    namespaced: true,
    writes: true,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/versions",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/versions",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({ model: "@cf/baai/bge-base-en-v1.5" }),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/versions/quality",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/versions/{id}",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/versions/{id}/activate",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({ force: true }),
    freshStatus: 409,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/versions/{id}/retire",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({}),
    freshStatus: 409,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/versions/rollback",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({}),
    freshStatus: 409,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/experiments",
    role: "admin",
    namespaced: true,
    writes: true,
    // A fresh namespace has only its active version: no candidate to experiment with.
    body: () => ({ candidateVersion: "v1", share: 0.1 }),
    freshStatus: 409,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/experiments/latest",
    role: "admin",
    namespaced: true,
    writes: false,
    freshStatus: 404,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/experiments/{id}",
    role: "admin",
    namespaced: true,
    writes: false,
    freshStatus: 404,
  },
  {
    method: "PATCH",
    template: "/v1/namespaces/{ns}/experiments/{id}",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({ share: 0.2 }),
    freshStatus: 404,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/experiments/{id}/stop",
    role: "admin",
    namespaced: true,
    writes: true,
    freshStatus: 404,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/experiments/{id}/promote",
    role: "admin",
    namespaced: true,
    writes: true,
    freshStatus: 404,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/feedback",
    role: "search",
    namespaced: true,
    writes: true,
    // A searchId this deployment never issued.
    body: (p) => ({ searchId: "bm90LWlzc3VlZA.c2ln", documentId: p.docId, position: 1 }),
    freshStatus: 400,
  },
  {
    method: "PUT",
    template: "/v1/namespaces/{ns}/golden-queries",
    role: "admin",
    namespaced: true,
    writes: true,
    body: (p) => ({ queries: [{ query: "a golden query", relevant: [p.docId] }] }),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/golden-queries",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/backups",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({}),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/backups",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/backups/{id}",
    role: "admin",
    namespaced: true,
    writes: false,
    // The namespace has no backup of that id.
    freshStatus: 404,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/restore",
    role: "admin",
    namespaced: true,
    writes: true,
    // The namespace has no backup of that id.
    body: (p) => ({ from: { namespace: p.ns, backupId: "20260101T000000Z-00000000" } }),
    freshStatus: 404,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/restore",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/restore/{id}",
    role: "admin",
    namespaced: true,
    writes: false,
    // No restore of that id.
    freshStatus: 404,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/quotas",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "PUT",
    template: "/v1/namespaces/{ns}/quotas",
    role: "admin",
    namespaced: true,
    writes: true,
    // Below the default: any admin key covering the namespace may tighten its quotas.
    body: () => ({ documents: 50_000 }),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/backup-policy",
    role: "admin",
    namespaced: true,
    writes: false,
    // A namespace has no policy until one is set.
    freshStatus: 404,
  },
  {
    method: "PUT",
    template: "/v1/namespaces/{ns}/backup-policy",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({ intervalHours: 24, keep: { count: 7, maxAgeDays: 30 } }),
  },
  {
    method: "DELETE",
    template: "/v1/namespaces/{ns}/backup-policy",
    role: "admin",
    namespaced: true,
    writes: true,
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/redaction",
    role: "admin",
    namespaced: true,
    writes: false,
  },
  {
    method: "PUT",
    template: "/v1/namespaces/{ns}/redaction",
    role: "admin",
    namespaced: true,
    writes: true,
    body: () => ({ email: true }),
  },
  {
    method: "POST",
    template: "/v1/admin/keys",
    role: "admin",
    namespaced: false,
    writes: true,
    // A role that a write-only key holds, so that a key lacking "admin" is refused for lacking
    // "admin" and not because it cannot grant the requested roles.
    body: (p) => ({ name: "created-by-security-suite", namespaces: [p.ns], roles: ["write"] }),
  },
  {
    method: "GET",
    template: "/v1/admin/keys",
    role: "admin",
    namespaced: false,
    writes: false,
  },
  {
    method: "DELETE",
    template: "/v1/admin/keys/{id}",
    role: "admin",
    namespaced: false,
    writes: true,
  },
  {
    method: "GET",
    template: "/v1/admin/dead-letters",
    role: "admin",
    namespaced: false,
    writes: false,
  },
  {
    method: "POST",
    template: "/v1/admin/dead-letters/replay",
    role: "admin",
    namespaced: false,
    writes: true,
    body: () => ({ limit: 1000 }),
  },
  {
    method: "GET",
    template: "/v1/admin/shards",
    role: "admin",
    namespaced: false,
    writes: false,
  },
  {
    method: "POST",
    template: "/v1/admin/namespaces/{ns}/move",
    role: "admin",
    namespaced: true,
    writes: true,
    // A fresh namespace is in DB already.
    body: () => ({ to: "DB" }),
    freshStatus: 409,
  },
  {
    method: "GET",
    template: "/v1/admin/namespaces/{ns}/move/{id}",
    role: "admin",
    namespaced: true,
    writes: false,
    // No move of that id.
    freshStatus: 404,
  },
  {
    method: "POST",
    template: "/v1/namespaces/{ns}/documents/delete",
    role: "write",
    namespaced: true,
    writes: true,
    body: () => ({ filter: { n: 1 } }),
  },
  {
    method: "GET",
    template: "/v1/namespaces/{ns}/erasures/{id}",
    role: "write",
    namespaced: true,
    writes: false,
    // No erasure of that id.
    freshStatus: 404,
  },
  {
    method: "GET",
    template: "/v1/admin/metrics",
    role: "admin",
    namespaced: false,
    writes: false,
  },
  {
    method: "GET",
    template: "/v1/admin/dashboard",
    role: "admin",
    namespaced: false,
    writes: false,
  },
];

/**
 * Routes outside /v1 that answer without a key; `documented` when /openapi.json describes them
 * (the document and the page that renders it do not describe themselves).
 */
export const PUBLIC_ROUTES: readonly { method: Method; path: string; documented: boolean }[] = [
  { method: "GET", path: "/healthz", documented: true },
  { method: "GET", path: "/readyz", documented: true },
  { method: "GET", path: "/openapi.json", documented: false },
  { method: "GET", path: "/docs", documented: false },
];

/** "PUT /v1/namespaces/{ns}/documents/{id}" */
export function routeName(route: Pick<RouteSpec, "method" | "template">): string {
  return `${route.method} ${route.template}`;
}

/** The concrete path of a route; parameters are URL-encoded as a client would. */
export function routePath(route: RouteSpec, p: RouteParams): string {
  // Version routes name the default version, which every namespace has; backup and restore
  // routes an id of the right shape.
  const id = route.template.startsWith("/v1/admin/")
    ? p.keyId
    : route.template.includes("/versions/{id}")
      ? "v1"
      : route.template.includes("/experiments/{id}")
        ? "e1"
        : /\/(backups|restore)\/\{id\}$/.test(route.template)
          ? BACKUP_ID
          : p.docId;
  return route.template.replace("{ns}", seg(p.ns)).replace("{id}", seg(id));
}

/**
 * The same path with its fixed first segment after /v1 percent-encoded ("namespaces" as
 * "%6eamespaces", "admin" as "%61dmin"). URLs equivalent under percent-decoding must be
 * authorized as the route they reach.
 */
export function encodedRoutePath(route: RouteSpec, p: RouteParams, upper = false): string {
  const path = routePath(route, p);
  const n = upper ? "%6E" : "%6e";
  return path.replace(/^\/v1\/namespaces\//, `/v1/${n}amespaces/`).replace(/^\/v1\/admin\//, "/v1/%61dmin/");
}

/** Every operation an OpenAPI document declares, as route names. */
export function openApiOperations(spec: unknown): string[] {
  const paths = (spec as { paths?: Record<string, Record<string, unknown>> }).paths ?? {};
  const methods = ["get", "put", "post", "delete", "patch", "head", "options"];
  return Object.entries(paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((m) => methods.includes(m))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

/** Whether a role is granted by a set of roles (admin implies the others). */
export function grants(roles: readonly Role[], needed: Role): boolean {
  return roles.includes(needed) || roles.includes("admin");
}

/**
 * Namespace patterns as documented: "*" covers every namespace, "acme-*" the names that start
 * with "acme-", anything else exactly that name.
 */
export function patternCovers(pattern: string, namespace: string): boolean {
  if (pattern === "*") return true;
  if (pattern.endsWith("*")) return namespace.startsWith(pattern.slice(0, -1));
  return pattern === namespace;
}

/** Whether every namespace `inner` covers is covered by `outer`. */
export function patternWithin(inner: string, outer: string): boolean {
  if (outer === "*") return true;
  if (inner === "*") return false;
  if (outer.endsWith("*")) return inner.startsWith(outer.slice(0, -1));
  return inner === outer;
}

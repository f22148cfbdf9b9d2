// Generators of hostile requests for the fuzz suite: route-shaped requests carrying the values of
// fuzz-values.ts, random paths and path encodings, methods, credentials and content types.
import fc from "fast-check";
import {
  type BodyKind,
  bodyFor,
  docIdArb,
  fuzzNamespace,
  namespaceName,
  oddString,
  percentEncode,
} from "./fuzz-values";
import { ROUTES } from "./routes";

/** Who sends a request: a key of the fuzzer, or a credential that is not one. */
export type AuthKind = "admin" | "search" | "none" | "garbage";

export interface FuzzKeys {
  /** Admin keys scoped to "fuzz-*" (several, so rate limits are not what gets tested). */
  admins: readonly string[];
  /** Search-only keys of the stored namespace. */
  searchers: readonly string[];
  /** Key ids worth aiming DELETE /v1/admin/keys/{id} at. */
  targetIds: readonly string[];
  /** The namespace holding the documents the fuzzer must not change. */
  stored: string;
}

export interface FuzzRequest {
  method: string;
  path: string;
  auth: AuthKind;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** The route the request was shaped after, if any. */
  route?: string;
}

function withQuery(path: string, query: string | null): string {
  return query === null ? path : `${path}?${query}`;
}

const queryString = fc.option(
  fc.oneof(
    fc.constantFrom(
      "topK=5",
      "ns=stored",
      "__proto__=1",
      "a=%ff",
      "x=%zz",
      `q=${"a".repeat(2000)}`,
      "&&=&",
      "pending=false&limit=5",
      "pending=maybe",
      "limit=0",
      "limit=1e3",
      "limit=-1",
      "limit=abc",
      "limit=1&limit=2",
    ),
    fc.string({ unit: "grapheme-ascii", maxLength: 30 }).map((s) => s.replace(/#/g, "")),
  ),
  { freq: 4 },
);

/** A path segment in one of many spellings, some of them invalid. */
function segment(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    {
      arbitrary: value.map((v) =>
        percentEncode(v).replace(/%([0-9a-z]{2})/g, (m, h: string) => {
          // Unreserved characters stay literal, as a client's encoder leaves them.
          const c = String.fromCharCode(Number.parseInt(h, 16));
          return /[A-Za-z0-9._~-]/.test(c) ? c : m.toUpperCase();
        }),
      ),
      weight: 6,
    },
    { arbitrary: value.map(percentEncode), weight: 1 },
    { arbitrary: value.map((v) => percentEncode(percentEncode(v))), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        "",
        ".",
        "..",
        "%2e%2e",
        "%",
        "%zz",
        "%ff",
        "%c0%80",
        "%ED%A0%80",
        "%00",
        "a%2Fb",
        "a%5Cb",
        "%20",
        "a;b=c",
        "x".repeat(3000),
        "%F0%9F%94%91",
      ),
      weight: 2,
    },
  );
}

/** Mostly the namespaces the sender's key covers, so requests get past authorization. */
function namespaceSegment(stored: string, auth: AuthKind): fc.Arbitrary<string> {
  const own = auth === "search" ? fc.constant(stored) : fuzzNamespace;
  const foreign = auth === "search" ? fuzzNamespace : fc.constant(stored);
  return fc.oneof(
    { arbitrary: own, weight: 7 },
    { arbitrary: foreign, weight: 1 },
    { arbitrary: segment(fc.oneof(namespaceName, oddString)), weight: 2 },
  );
}

// workerd refuses methods outside the registered HTTP methods before a request exists.
const methods = fc.constantFrom(
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
  "PROPFIND",
  "get",
  "Delete",
  "patch",
);

function authArb(keys: FuzzKeys): fc.Arbitrary<{ kind: AuthKind; header?: string }> {
  return fc.oneof(
    {
      arbitrary: fc
        .constantFrom(...keys.admins)
        .map((k) => ({ kind: "admin" as const, header: `Bearer ${k}` })),
      weight: 50,
    },
    {
      arbitrary: fc
        .constantFrom(...keys.searchers)
        .map((k) => ({ kind: "search" as const, header: `Bearer ${k}` })),
      weight: 25,
    },
    { arbitrary: fc.constant({ kind: "none" as const }), weight: 5 },
    {
      arbitrary: fc
        .oneof(
          fc.constantFrom("Bearer", "Bearer ", "Basic YTpi", "bearer x", "Bearer es_", "Bearer  x"),
          fc
            .constantFrom(...keys.searchers)
            .map((k) => `Bearer ${k.slice(0, -1)}${k.endsWith("A") ? "B" : "A"}`),
          fc.constantFrom(...keys.admins).map((k) => `Bearer ${k}x`),
          fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,80}$/),
        )
        .map((header) => ({ kind: "garbage" as const, header })),
      weight: 20,
    },
  );
}

const contentType = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 16 },
  {
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/json;",
      "application/json; charset=latin1",
      "text/plain",
      "",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/problem+json",
      "application/json, text/plain",
      "application/jsonx",
    ),
    weight: 3,
  },
  { arbitrary: fc.stringMatching(/^[\x21-\x7e][\x20-\x7e]{0,40}$/), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
);

function assemble(
  method: string,
  path: string,
  auth: { kind: AuthKind; header?: string },
  type: string | null,
  body: BodyKind,
  route?: string,
): FuzzRequest {
  const headers: Record<string, string> = {};
  if (auth.header !== undefined) headers.authorization = auth.header;
  if (type !== null) headers["content-type"] = type;
  // GET and HEAD requests cannot carry a body.
  const upper = method.toUpperCase();
  const sendsBody = upper !== "GET" && upper !== "HEAD" && body !== undefined;
  return {
    method,
    path,
    auth: auth.kind,
    headers,
    ...(sendsBody ? { body } : {}),
    ...(route ? { route } : {}),
  };
}

/** A request aimed at one of the API's routes, with hostile values in it. */
function routeRequest(keys: FuzzKeys): fc.Arbitrary<FuzzRequest> {
  return fc.tuple(fc.constantFrom(...ROUTES), authArb(keys)).chain(([route, auth]) =>
    fc
      .record({
        method: fc.oneof(
          { arbitrary: fc.constant(route.method as string), weight: 9 },
          { arbitrary: methods, weight: 1 },
        ),
        ns: namespaceSegment(keys.stored, auth.kind),
        id: route.template.startsWith("/v1/admin/")
          ? fc.oneof(fc.constantFrom(...keys.targetIds), segment(oddString))
          : segment(docIdArb),
        query: queryString,
        auth: fc.constant(auth),
        type: contentType,
        body: bodyFor(route, keys.stored),
      })
      .map((r) => {
        const path = route.template.replace("{ns}", r.ns).replace("{id}", r.id);
        return assemble(
          r.method,
          withQuery(path, r.query),
          r.auth,
          r.type,
          r.body,
          `${route.method} ${route.template}`,
        );
      }),
  );
}

/** A request to a random path: random segments, prefixes and encodings. */
function randomPathRequest(keys: FuzzKeys): fc.Arbitrary<FuzzRequest> {
  const first = fc.constantFrom(
    "v1",
    "v2",
    "",
    "healthz",
    "readyz",
    "openapi.json",
    "docs",
    "V1",
    "v1.0",
    "..",
  );
  const rest = fc.array(
    fc.oneof(
      fc.constantFrom("namespaces", "documents", "search", "admin", "keys", keys.stored, "fuzz-a"),
      segment(oddString),
    ),
    { maxLength: 6 },
  );
  return fc
    .record({
      method: methods,
      first,
      rest,
      query: queryString,
      auth: authArb(keys),
      type: contentType,
      body: bodyFor(undefined, keys.stored),
    })
    .map((r) =>
      assemble(r.method, withQuery(`/${[r.first, ...r.rest].join("/")}`, r.query), r.auth, r.type, r.body),
    );
}

export function fuzzRequest(keys: FuzzKeys): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(
    { arbitrary: routeRequest(keys), weight: 6 },
    { arbitrary: randomPathRequest(keys), weight: 1 },
  );
}

/**
 * Requests whose fixed path segments ("v1", "namespaces", "admin") are partly percent-encoded:
 * equivalent URLs a router decodes to the same route.
 */
export function encodedSegmentRequest(keys: FuzzKeys): fc.Arbitrary<FuzzRequest> {
  const spell = (word: string) =>
    fc
      .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
      .map((mask) =>
        Array.from(word, (ch, i) => (mask[i] ? `%${ch.charCodeAt(0).toString(16)}` : ch)).join(""),
      );
  return fc.constantFrom(...ROUTES).chain((route) =>
    fc
      .record({
        v1: spell("v1"),
        fixed: spell(route.template.startsWith("/v1/admin/") ? "admin" : "namespaces"),
        upper: fc.boolean(),
        auth: authArb(keys).filter((a) => a.kind === "admin" || a.kind === "search"),
        id: route.template.startsWith("/v1/admin/")
          ? fc.constantFrom(...keys.targetIds)
          : fc.constant("stored-1"),
      })
      .map((r) => {
        const enc = (s: string) =>
          r.upper ? s.replace(/%([0-9a-f]{2})/g, (_, h: string) => `%${h.toUpperCase()}`) : s;
        const rest = route.template
          .replace(/^\/v1\/(namespaces|admin)/, "")
          .replace("{ns}", keys.stored)
          .replace("{id}", r.id);
        const path = `/${enc(r.v1)}/${enc(r.fixed)}${rest}`;
        const body = route.body?.({ ns: keys.stored, docId: "planted", keyId: r.id });
        return assemble(
          route.method,
          path,
          r.auth,
          "application/json",
          body === undefined ? undefined : JSON.stringify(body),
          `${route.method} ${route.template}`,
        );
      }),
  );
}

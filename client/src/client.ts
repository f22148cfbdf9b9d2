// The client of the v1 API: `call` reaches every operation of the OpenAPI document by its method
// and path, typed from ./api.ts; named methods cover the common ones.
import type {
  BatchDocument,
  DocumentStatus,
  Operations,
  PutDocumentRequest,
  SearchRequest,
  SearchResponse,
} from "./api.ts";
import { RESPONSE_KINDS } from "./api.ts";
import { type Answer, type CallOptions, type ClientOptions, FileBody, Transport } from "./transport.ts";

export type OperationName = keyof Operations;

/** What an operation takes: `path` and `query` parameters and the `body`, as its entry names them. */
export type Params<K extends OperationName> = Omit<Operations[K], "response">;

/** An operation's success answer. */
export type Result<K extends OperationName> = Operations[K]["response"];

/** The arguments after the operation's name: its params (optional when it needs none) and options. */
export type CallArgs<K extends OperationName> =
  Record<string, never> extends Params<K>
    ? [params?: Params<K>, options?: CallOptions]
    : [params: Params<K>, options?: CallOptions];

/** A success answer with the attempts it took and its headers (X-Cache, Server-Timing, ...). */
export type Timed<T> = Omit<Answer, "data"> & { data: T };

/** A document to write: its id and the fields of PUT /documents/{id}. */
export type DocumentInput = BatchDocument;

export type NamespaceStats = Result<"GET /v1/namespaces/{ns}">;

function pathOf(template: string, values: Record<string, string> | undefined): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values?.[name];
    if (value === undefined) throw new TypeError(`missing path parameter "${name}" for ${template}`);
    return encodeURIComponent(value);
  });
}

function queryOf(values: Record<string, unknown> | undefined): string {
  if (!values) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const query = params.toString();
  return query === "" ? "" : `?${query}`;
}

export function createClient(options: ClientOptions = {}) {
  const transport = new Transport(options);

  async function callTimed<K extends OperationName>(
    operation: K,
    ...[params, callOptions]: CallArgs<K>
  ): Promise<Timed<Result<K>>> {
    const space = operation.indexOf(" ");
    const method = operation.slice(0, space);
    const p = (params ?? {}) as {
      path?: Record<string, string>;
      query?: Record<string, unknown>;
      body?: unknown;
    };
    const path = pathOf(operation.slice(space + 1), p.path) + queryOf(p.query);
    const answer = await transport.send(method, path, p.body, callOptions, RESPONSE_KINDS[operation]);
    return answer as Timed<Result<K>>;
  }

  async function call<K extends OperationName>(operation: K, ...args: CallArgs<K>): Promise<Result<K>> {
    return (await callTimed(operation, ...args)).data;
  }

  // Searches only read, and writes by id leave the same state when repeated: safe to retry.
  const retrySafe = (callOptions: CallOptions = {}): CallOptions => ({ idempotent: true, ...callOptions });

  const search = (ns: string, body: SearchRequest, callOptions?: CallOptions): Promise<SearchResponse> =>
    call("POST /v1/namespaces/{ns}/search", { path: { ns }, body }, retrySafe(callOptions));

  return {
    baseUrl: transport.baseUrl,
    call,
    callTimed,
    /** Any path, untyped (`call` reaches every operation of the document, /healthz and /readyz included). */
    request: async (method: string, path: string, body?: unknown, callOptions?: CallOptions) =>
      (await transport.send(method, path, body, callOptions)).data,
    health: (callOptions?: CallOptions) => transport.send("GET", "/healthz", undefined, callOptions),
    putDocument: (ns: string, { id, ...document }: DocumentInput, callOptions?: CallOptions) =>
      call(
        "PUT /v1/namespaces/{ns}/documents/{id}",
        { path: { ns, id }, body: document satisfies PutDocumentRequest },
        callOptions,
      ),
    /** Writes a PDF, Word, Excel, CSV or image file as a document; the service converts it to text. */
    putFile: async (
      ns: string,
      id: string,
      data: Uint8Array<ArrayBuffer>,
      contentType: string,
      callOptions?: CallOptions,
    ) =>
      (
        await transport.send(
          "PUT",
          pathOf("/v1/namespaces/{ns}/documents/{id}", { ns, id }),
          new FileBody(data, contentType),
          retrySafe(callOptions),
        )
      ).data as Result<"PUT /v1/namespaces/{ns}/documents/{id}">,
    putDocuments: (ns: string, documents: DocumentInput[], callOptions?: CallOptions) =>
      call(
        "POST /v1/namespaces/{ns}/documents",
        { path: { ns }, body: { documents } },
        retrySafe(callOptions),
      ),
    /** Writes documents as R2 objects of the documents bucket (admin); notifications ingest them. */
    putObjects: (ns: string, documents: DocumentInput[], callOptions?: CallOptions) =>
      call("POST /v1/namespaces/{ns}/objects", { path: { ns }, body: { documents } }, retrySafe(callOptions)),
    getDocument: (ns: string, id: string, callOptions?: CallOptions): Promise<DocumentStatus> =>
      call("GET /v1/namespaces/{ns}/documents/{id}", { path: { ns, id } }, callOptions),
    /** A page of the namespace's documents in id order, of one status or all; nextCursor for the next. */
    listDocuments: (
      ns: string,
      query: Params<"GET /v1/namespaces/{ns}/documents">["query"] = {},
      callOptions?: CallOptions,
    ) => call("GET /v1/namespaces/{ns}/documents", { path: { ns }, query }, retrySafe(callOptions)),
    deleteDocument: (ns: string, id: string, callOptions?: CallOptions) =>
      call("DELETE /v1/namespaces/{ns}/documents/{id}", { path: { ns, id } }, callOptions),
    deleteNamespace: (ns: string, callOptions?: CallOptions) =>
      call("DELETE /v1/namespaces/{ns}", { path: { ns } }, callOptions),
    namespaceStats: (ns: string, callOptions?: CallOptions): Promise<NamespaceStats> =>
      call("GET /v1/namespaces/{ns}", { path: { ns } }, callOptions),
    search,
    /** search with the attempts it took, the duration of the one that answered, and the headers. */
    searchTimed: (ns: string, body: SearchRequest, callOptions?: CallOptions) =>
      callTimed("POST /v1/namespaces/{ns}/search", { path: { ns }, body }, retrySafe(callOptions)),
    /**
     * The pages of one ranking, first to last: each page's nextCursor is sent, with the same
     * request, for the next. Pages reach the ranking's first 100 results.
     */
    searchPages: async function* (
      ns: string,
      body: Omit<SearchRequest, "cursor">,
      callOptions?: CallOptions,
    ): AsyncGenerator<SearchResponse, void, undefined> {
      let cursor: string | undefined;
      do {
        const page = await search(ns, cursor === undefined ? body : { ...body, cursor }, callOptions);
        yield page;
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    },
    similar: (
      ns: string,
      id: string,
      body: Params<"POST /v1/namespaces/{ns}/documents/{id}/similar">["body"],
      callOptions?: CallOptions,
    ) =>
      call(
        "POST /v1/namespaces/{ns}/documents/{id}/similar",
        { path: { ns, id }, body },
        retrySafe(callOptions),
      ),
  };
}

export type Client = ReturnType<typeof createClient>;

/** A metadata value of a document: string, number or boolean. */
export type MetadataValue = NonNullable<DocumentInput["metadata"]>[string];

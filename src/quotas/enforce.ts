// Quota checks of writes. At submission (the documents API): documents, bytes and the key's
// namespaces, before anything is written, with the amounts reserved by a conditional statement
// until the write's D1 commit. At ingest (the queue consumer): chunks, which only parsing
// knows, and documents and bytes of objects uploaded straight to R2 (no API call checked them).
import { ADMIN_SECRET_KEY_ID } from "../auth/authenticate";
import type { Principal } from "../auth/scopes";
import type { Config } from "../config";
import type { AppError } from "../errors";
import { documentBytes, type NewDocument } from "../ingest/submit";
import type { RedactionSettings } from "../redaction/scan";
import { RedactionStore } from "../redaction/settings";
import type { DocumentRecord } from "../store/documents";
import {
  type NamespaceLimits,
  type NamespaceUsage,
  namespaceLimits,
  namespacesLimit,
  quotaExceeded,
} from "./limits";
import { type QuotaDatabases, QuotaStore } from "./store";

export interface QuotaDeps extends QuotaDatabases {
  config: Config;
}

/** What a write adds to its namespace: new documents, and bytes beyond those it replaces. */
interface Addition {
  documents: number;
  bytes: number;
}

const pending = (reserved: number) => (reserved > 0 ? ` (${reserved} of them by writes in progress)` : "");

/** The quota `add` would take `usage` (plus what others reserved) past, if any. */
function overQuota(
  namespace: string,
  usage: NamespaceUsage,
  reserved: Addition,
  add: Addition,
  limits: NamespaceLimits,
): AppError | null {
  for (const quota of ["documents", "bytes"] as const) {
    const held = usage[quota] + reserved[quota];
    if (add[quota] > 0 && held + add[quota] > limits[quota]) {
      return quotaExceeded(
        quota,
        limits[quota],
        usage[quota],
        `namespace "${namespace}" holds ${held} of its ${limits[quota]} ${quota}${pending(reserved[quota])}; this write adds ${add[quota]}`,
      );
    }
  }
  return null;
}

/** A write's room in its namespace's quotas, and the namespace's settings the write applies. */
export interface Reservation {
  release(): Promise<void>;
  /** The namespace's default time to live (read in the same round trip as its quotas). */
  defaultTtlSeconds: number | null;
}

/**
 * Checks a write of `docs` to `namespace` by `principal` against every quota and reserves what
 * it adds; throws a quota_exceeded AppError (nothing written, nothing reserved) when it does not
 * fit. Call the reservation's release when the write has committed or failed.
 */
export async function reserveWrite(
  deps: QuotaDeps,
  principal: Principal,
  namespace: string,
  docs: readonly NewDocument[],
  fieldPrefix: (i: number) => string,
): Promise<Reservation> {
  const store = new QuotaStore(deps);
  const state = await store.writeState(
    namespace,
    docs.map((d) => d.id),
  );
  const limits = namespaceLimits(deps.config, state.overrides);
  const add: Addition = { documents: 0, bytes: 0 };
  docs.forEach((doc, i) => {
    const bytes = documentBytes(doc);
    if (bytes > limits.bytes) {
      throw quotaExceeded(
        "bytes",
        limits.bytes,
        state.usage.bytes,
        `document text is ${bytes} bytes, more than namespace "${namespace}" may hold in all`,
        { status: 413, field: doc.data ? fieldPrefix(i) : `${fieldPrefix(i)}.text` },
      );
    }
    const previous = state.live.get(doc.id);
    if (previous === undefined) add.documents += 1;
    add.bytes += bytes - (previous ?? 0);
  });
  add.bytes = Math.max(0, add.bytes);

  const refused = overQuota(namespace, state.usage, state.reserved, add, limits);
  if (refused) throw refused;
  if (state.creator === null && state.usage.documents === 0 && add.documents > 0) {
    const limit = namespacesLimit(principal, deps.config, ADMIN_SECRET_KEY_ID);
    if (Number.isFinite(limit) && !(await store.claim(namespace, principal.keyId, limit))) {
      const used = await store.createdBy(principal.keyId);
      throw quotaExceeded(
        "namespaces",
        limit,
        used,
        `this key has created ${used} of the ${limit} namespaces it may; writing to "${namespace}" would create another`,
      );
    }
  }

  const { defaultTtlSeconds } = state;
  if (add.documents === 0 && add.bytes === 0) return { release: async () => undefined, defaultTtlSeconds };
  const id = crypto.randomUUID();
  if (!(await store.reserve(id, namespace, add, limits))) {
    // Another write took the room between the read and the reservation: report what it left.
    const now = await store.writeState(namespace, []);
    throw (
      overQuota(namespace, now.usage, now.reserved, add, limits) ??
      quotaExceeded(
        "documents",
        limits.documents,
        now.usage.documents,
        `namespace "${namespace}" is at its quota`,
      )
    );
  }
  // A failed release only leaves the reservation to expire (RESERVATION_TTL_MS).
  return { release: () => store.release(namespace, id).catch(() => undefined), defaultTtlSeconds };
}

/**
 * The ingest side, for one document. `row` is its D1 record before this version (null: new).
 * Returns the error the document fails with when the new version does not fit, else null.
 */
export class IngestQuota {
  private loaded:
    | Promise<{ usage: NamespaceUsage; limits: NamespaceLimits; redaction: RedactionSettings | null }>
    | undefined;

  /**
   * `withRedaction`: the namespace's redaction settings are read with its quota state (in the
   * same statement where the namespace's rows are in the control database): see `redaction`.
   */
  constructor(
    private readonly deps: QuotaDeps,
    private readonly namespace: string,
    private readonly row: DocumentRecord | null,
    private readonly withRedaction = false,
  ) {}

  private state() {
    const store = new QuotaStore(this.deps);
    this.loaded ??= (
      this.withRedaction
        ? store.namespaceWithRedaction(this.namespace)
        : store.namespace(this.namespace).then((s) => ({ ...s, redaction: null }))
    ).then(({ usage, overrides, redaction }) => ({
      usage,
      limits: namespaceLimits(this.deps.config, overrides),
      redaction,
    }));
    return this.loaded;
  }

  /**
   * The namespace's redaction settings, as read with its quota state: this document's chunk check
   * and redaction see the namespace as of one moment, and a change applies from the next document.
   */
  async redaction(): Promise<RedactionSettings> {
    const { redaction } = await this.state();
    return redaction ?? new RedactionStore(this.deps.db).get(this.namespace);
  }

  private get live(): boolean {
    return this.row !== null && this.row.status !== "deleted";
  }

  /** An object uploaded straight to R2: the documents and bytes checks the API would have made. */
  async upload(bytes: number): Promise<AppError | null> {
    const { usage, limits } = await this.state();
    const add = {
      documents: this.live ? 0 : 1,
      bytes: Math.max(0, bytes - (this.live ? (this.row?.bytes ?? 0) : 0)),
    };
    return overQuota(this.namespace, usage, { documents: 0, bytes: 0 }, add, limits);
  }

  /** The document parsed into `chunks` chunks (per version): whether the namespace can hold them. */
  async chunks(chunks: number): Promise<AppError | null> {
    const { usage, limits } = await this.state();
    // Usage already counts the document's previous version, which this one replaces.
    const others = usage.chunks - (this.live ? (this.row?.chunkCount ?? 0) : 0);
    if (others + chunks <= limits.chunks) return null;
    return quotaExceeded(
      "chunks",
      limits.chunks,
      usage.chunks,
      `the document has ${chunks} chunks and namespace "${this.namespace}" holds ${others} of its ${limits.chunks} chunks without it`,
    );
  }
}

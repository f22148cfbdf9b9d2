// Tenant quotas: what they are, the limits in force for a namespace or a key, and the error a
// write over one of them gets.
//
// Default figures (wrangler.toml QUOTA_*), sized against the platform a namespace shares:
// - chunks, 500,000: every chunk is one vector per live version, and a Vectorize index holds
//   10,000,000 vectors and 50,000 namespaces
//   (https://developers.cloudflare.com/vectorize/platform/limits/): the default keeps any one
//   namespace at 5% of the index it is placed in.
// - bytes, 256 MiB: chunk text is stored in D1 (chunks plus the keyword index, about twice the
//   text), and a D1 database holds 10 GB on Workers Paid
//   (https://developers.cloudflare.com/d1/platform/limits/); one namespace at its quota stays
//   near 5% of the database.
// - documents, 100,000: 256 MiB of documents of about 2.5 KiB each.
// - namespaces per key, 100: a prefix-scoped key ("acme-*") could otherwise place namespaces
//   without end on the index's 50,000.
import type { Principal } from "../auth/scopes";
import type { Config } from "../config";
import { AppError } from "../errors";

export const NAMESPACE_QUOTAS = ["documents", "chunks", "bytes"] as const;
export type NamespaceQuota = (typeof NAMESPACE_QUOTAS)[number];
export type QuotaName = NamespaceQuota | "namespaces";

export type NamespaceLimits = Record<NamespaceQuota, number>;
export type NamespaceUsage = Record<NamespaceQuota, number>;
/** An admin's overrides for a namespace; null keeps the deployment's default. */
export type NamespaceOverrides = Record<NamespaceQuota, number | null>;

export const NO_OVERRIDES: NamespaceOverrides = { documents: null, chunks: null, bytes: null };

/** The limits in force for a namespace: its overrides, else the deployment's defaults. */
export function namespaceLimits(config: Config, overrides: NamespaceOverrides): NamespaceLimits {
  return {
    documents: overrides.documents ?? config.quotas.documents,
    chunks: overrides.chunks ?? config.quotas.chunks,
    bytes: overrides.bytes ?? config.quotas.bytes,
  };
}

/**
 * How many namespaces a key may create: its own figure, else the deployment's default. The
 * bootstrap admin key (ADMIN_API_KEY, the operator) has none.
 */
export function namespacesLimit(principal: Principal, config: Config, bootstrapKeyId: string): number {
  if (principal.keyId === bootstrapKeyId) return Number.POSITIVE_INFINITY;
  return principal.maxNamespaces ?? config.quotas.namespacesPerKey;
}

const UNITS: Record<QuotaName, string> = {
  documents: "documents",
  chunks: "chunks",
  bytes: "bytes of document text",
  namespaces: "namespaces",
};

/**
 * A write refused by a quota: 429 (the quota is full: delete something, or ask an admin for
 * more), or 413 when one document alone is larger than the whole quota.
 */
export function quotaExceeded(
  quota: QuotaName,
  limit: number,
  used: number,
  detail: string,
  options: { status?: 413 | 429; field?: string } = {},
): AppError {
  return new AppError("quota_exceeded", `${detail} (quota "${quota}": ${limit} ${UNITS[quota]})`, {
    retryable: false,
    status: options.status,
    field: options.field,
    extra: { quota, limit, used },
  });
}

/** Each namespace quota's usage and limit, as the API reports them. */
export function quotaReport(
  usage: NamespaceUsage,
  limits: NamespaceLimits,
): Record<NamespaceQuota, { used: number; limit: number }> {
  return {
    documents: { used: usage.documents, limit: limits.documents },
    chunks: { used: usage.chunks, limit: limits.chunks },
    bytes: { used: usage.bytes, limit: limits.bytes },
  };
}

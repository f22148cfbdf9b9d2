// Request and response examples of /openapi.json, shown by /docs. Each is checked against its
// schema where the route passes it (jsonBody, jsonResponse) and, in the served document, by
// test/integration/openapi-examples.test.ts.
import { ERROR_CODES, type ErrorCode } from "../../src/errors";
import { PROBLEM_BASE } from "./problem";

const guide = {
  title: "Rotating API keys",
  contentType: "text/markdown",
  text: "# Rotating API keys\n\nCreate the new key, deploy it, then revoke the old one.",
  metadata: { category: "guide", lang: "en", year: 2026 },
};

export const putDocumentExample = guide;

export const batchExample = {
  documents: [
    { id: "rotating-api-keys", ...guide },
    { id: "refund-policy", text: "Refunds are issued within 14 days.", metadata: { category: "faq" } },
  ],
};

export const acceptedDocumentExample = { id: "rotating-api-keys", status: "queued" as const };

export const acceptedBatchExample = { accepted: 2, ids: ["rotating-api-keys", "refund-policy"] };

export const documentStatusExample = {
  id: "rotating-api-keys",
  status: "indexed" as const,
  chunks: 3,
  version: "v1",
  title: "Rotating API keys",
  updatedAt: "2026-12-04T09:30:12.345Z",
};

export const documentListExample = {
  documents: [
    {
      id: "quarterly-report.pdf",
      status: "failed" as const,
      chunks: 0,
      version: null,
      title: "Quarterly report",
      error: "indexing failed after 6 attempts: R2 read failed: 503",
      updatedAt: "2026-12-04T09:31:40.118Z",
    },
  ],
  nextCursor: "eyJuIjoiZG9jcyIsInMiOiJmYWlsZWQiLCJhIjoicXVhcnRlcmx5LXJlcG9ydC5wZGYifQ",
};

export const searchExample = {
  query: "how do I rotate an API key",
  topK: 5,
  mode: "hybrid" as const,
  filter: { category: "guide", year: { $gte: 2025 } },
  highlight: true,
};

export const searchResponseExample = {
  results: [
    {
      id: "rotating-api-keys",
      chunkId: "AGm68a3cW7ESMc7GQI7Q5A-0",
      score: 0.0172,
      title: "Rotating API keys",
      metadata: { category: "guide", year: 2026 },
      snippet: "Create the new key, deploy it, then revoke the old one.",
      highlights: [{ start: 15, end: 18 }],
      snippetTruncated: { start: false, end: false },
    },
  ],
  version: "v1",
  cache: "miss" as const,
  degraded: [],
};

export const namespaceStatsExample = {
  namespace: "docs",
  documents: 1204,
  chunks: 5873,
  pending: 2,
  failed: 0,
  activeVersion: "v1",
  quotas: {
    documents: { used: 1204, limit: 100_000 },
    chunks: { used: 5873, limit: 500_000 },
    bytes: { used: 7_340_211, limit: 268_435_456 },
  },
  health: null,
};

export const similarExample = { topK: 5, filter: { lang: "en" } };

export const setQuotasExample = { documents: 250_000, chunks: null, defaultTtlSeconds: 2_592_000 };

export const setRedactionExample = { email: true, phone: true, card: true };

export const createVersionExample = {
  model: "@cf/baai/bge-base-en-v1.5",
  pooling: "cls" as const,
  chunking: { maxTokens: 384, overlapTokens: 48 },
};

export const activateVersionExample = { mode: "hybrid" as const };

export const goldenQueriesExample = {
  queries: [
    { query: "rotate an api key", relevant: ["rotating-api-keys"] },
    { query: "how long do refunds take", relevant: ["refund-policy"] },
  ],
};

export const startExperimentExample = {
  candidateVersion: "v2",
  share: 0.1,
  shadowShare: 0.05,
  minSamples: 1000,
};

export const updateExperimentExample = { share: 0.25 };

export const feedbackExample = {
  searchId:
    "eyJuIjoiZG9jcyIsInYiOiJ2MiIsImEiOiJjYW5kaWRhdGUiLCJlIjoiZTEiLCJ0IjoxNzk2NTA0MDAwMDAwLCJvIjowLCJoIjpbMTIzNDU2Nzg5XSwiciI6ImFiY2RlZmdoIn0.c2lnbmF0dXJl",
  documentId: "rotating-api-keys",
  position: 1,
  kind: "click" as const,
};

const arm = (version: string, searches: number, clicks: number, mrr: number) => ({
  version,
  searches,
  empty: 0,
  degraded: 0,
  clicks,
  ctr: { value: clicks / searches, low: clicks / searches - 0.02, high: clicks / searches + 0.02 },
  mrr: { value: mrr, low: mrr - 0.02, high: mrr + 0.02 },
  latencyMs: { p50: 38.1, p95: 90.5, p99: 128 },
});

export const experimentReportExample = {
  id: "e1",
  namespace: "docs",
  state: "running" as const,
  control: "v1",
  candidate: "v2",
  share: 0.1,
  shadowShare: 0.05,
  minSamples: 1000,
  startedAt: "2026-12-05T09:00:00.000Z",
  endedAt: null,
  endReason: null,
  arms: { control: arm("v1", 18_204, 9_830, 0.47), candidate: arm("v2", 2_011, 1_147, 0.52) },
  shadow: {
    samples: 902,
    failed: 0,
    overlapAt10: 0.71,
    rbo: 0.68,
    controlEmpty: 3,
    candidateEmpty: 2,
    controlDegraded: 0,
    candidateDegraded: 0,
    latencyMs: { control: { p50: 38.1, p95: 90.5 }, candidate: { p50: 45.3, p95: 107.6 } },
  },
  verdict: "candidate better" as const,
  mrrDifference: { value: 0.05, low: 0.027, high: 0.073 },
  method: "Primary metric: MRR of each search's first click ...",
};

export const restoreExample = { from: { namespace: "docs", backupId: "20261204T031500Z-9f3c2a1b" } };

export const backupPolicyExample = { intervalHours: 24, keep: { count: 7, maxAgeDays: 30 } };

export const createKeyExample = {
  name: "docs site search",
  namespaces: ["docs"],
  roles: ["search" as const],
  expiresAt: "2027-06-30T00:00:00Z",
};

export const replayExample = { ids: [412, 413] };

export const moveExample = { to: "DATA_DB_2" };

/** A problem+json body as workers/api/problem.ts writes it. */
export function problemExample(code: ErrorCode, detail: string, field?: string) {
  const { title, status } = ERROR_CODES[code];
  return {
    type: `${PROBLEM_BASE}${code.replace(/_/g, "-")}`,
    title,
    status,
    detail,
    requestId: "0b6c1e4e-5d55-4a43-9d0e-6b1c2f0a7e21",
    code,
    ...(field === undefined ? {} : { field }),
  };
}

export const erasureExample = { filter: { customer: "c-4211" } };

// Self-repair of missing vectors by the scheduled check: indexed documents are checked in turn
// (least recently checked first, then oldest indexed), a bounded number of chunk ids per run looked
// up with getByIds in each live version's index; the chunks whose vectors are missing are embedded
// again from their stored rows and upserted under the ids ingest gives them, so a repair never
// adds a second vector for a chunk. Vectorize applies writes asynchronously: only documents
// indexed longer than `settleMs` ago are checked, and a repaired document is checked again only
// after that time. A repair that makes no progress three times stops, logged at error (Sentry).
import { embeddingTextOf } from "../ingest/chunk";
import { upsertAll, type WriteTarget } from "../ingest/pipeline";
import { parseJson } from "../store/hydrated-chunk";
import { DOC_ID_FIELD, type Metadata } from "../validation";
import { getVectors } from "../vectors/paging";
import type { VectorRecord } from "../vectors/vector-index";
import { vectorNamespace } from "../versions/model";
import type { Logger } from "./logger";

export const VECTOR_REPAIR_LIMITS = {
  /**
   * Chunk ids looked up per run, across the pool: getByIds takes 20 ids per call
   * (VECTORIZE_LIMITS.maxGetBatch), so 50 calls. A document is checked whole: one with more
   * chunks than this is checked alone in its run.
   */
  checks: 1000,
  /** Chunks embedded again and upserted per run (the rest of a document waits for the next run). */
  chunks: 200,
  /** Tokens (the chunks' stored counts) embedded per run: what a run may spend on Workers AI. */
  tokens: 100_000,
  /** Documents read per run to choose those checked. */
  documents: 100,
  /** Attempts on a version without progress before the check stops and alerts. */
  perDocument: 3,
} as const;

/**
 * Vector writes become visible asynchronously: "Actual mutations are processed async where the
 * `mutationId` is the unique identifier for the operation" (VectorizeAsyncMutation, cloudflare/
 * workerd types/defines/vectorize.d.ts; describe().processedUpToMutation says how far the index
 * got). A document indexed (or repaired) less than this long ago is not checked: its vectors may
 * still be applying. Looking too early costs only an idempotent upsert of the same vectors.
 */
export const VECTOR_SETTLE_MS = 10 * 60_000;

export interface VectorRepairDeps {
  /** Every database of the pool. */
  databases: readonly D1Database[];
  /** The namespace's live versions (building, ready, active, previous) with embedder and index. */
  targets(namespace: string): Promise<WriteTarget[]>;
  logger: Logger;
}

export interface VectorRepairOptions {
  now?: number;
  settleMs?: number;
  limits?: Partial<Record<keyof typeof VECTOR_REPAIR_LIMITS, number>>;
}

/** Per namespace: vectors upserted again, and documents given up on. */
export interface VectorRepairCounts {
  repairedVectors: number;
  abandoned: number;
}

export interface VectorRepairResult {
  byNamespace: Map<string, VectorRepairCounts>;
  checkedChunks: number;
  repairedVectors: number;
  abandoned: number;
}

interface Candidate {
  namespace: string;
  id: string;
  etag: string;
  metadata: string;
  chunk_count: number;
  vector_repairs: number;
  vector_repair_etag: string | null;
  vector_missing: number;
  vectors_suspect: number;
}

interface ChunkRef {
  namespace: string;
  doc_id: string;
  version: string;
  chunk_id: string;
}

interface ChunkText {
  chunk_id: string;
  namespace: string;
  doc_id: string;
  version: string;
  idx: number;
  title: string | null;
  headings: string;
  text: string;
  tokens: number;
}

/** What the run decided for one document, written back in one statement per database. */
interface Outcome {
  doc: Candidate;
  checkedAt: number;
  repairs: number;
  missing: number;
  repairedAt: number | null;
  /** 1: the next check embeds all chunks again (see writeOutcomes). */
  suspect: number;
  /** 1 when this run upserted vectors of the document. */
  upserted: number;
}

const docKey = (namespace: string, id: string) => `${namespace}\u0000${id}`;

export async function repairMissingVectors(
  deps: VectorRepairDeps,
  options: VectorRepairOptions = {},
): Promise<VectorRepairResult> {
  const now = options.now ?? Date.now();
  const limits = { ...VECTOR_REPAIR_LIMITS, ...options.limits };
  const cutoff = now - (options.settleMs ?? VECTOR_SETTLE_MS);
  const budget = { checks: limits.checks, chunks: limits.chunks, tokens: limits.tokens };
  const result: VectorRepairResult = {
    byNamespace: new Map(),
    checkedChunks: 0,
    repairedVectors: 0,
    abandoned: 0,
  };
  const count = (namespace: string, field: keyof VectorRepairCounts, n: number) => {
    const counts = result.byNamespace.get(namespace) ?? { repairedVectors: 0, abandoned: 0 };
    counts[field] += n;
    result.byNamespace.set(namespace, counts);
    result[field] += n;
  };
  const targets = new Map<string, Promise<WriteTarget[] | null>>();
  const targetsOf = (namespace: string) => {
    let t = targets.get(namespace);
    if (!t) {
      t = deps.targets(namespace).catch((err: unknown) => {
        deps.logger.warn("repair.vectors_targets_failed", { namespace, error: String(err) });
        return null;
      });
      targets.set(namespace, t);
    }
    return t;
  };
  for (const db of deps.databases) {
    if (budget.checks <= 0) break;
    const { docs, refs } = await readCandidates(db, cutoff, limits.documents, budget.checks);
    if (docs.length === 0) continue;
    budget.checks -= Math.max(1, refs.length);
    result.checkedChunks += refs.length;
    const outcomes: Outcome[] = [];
    const toRepair = new Map<string, ChunkRef[]>();
    for (const [namespace, nsDocs] of groupBy(docs, (d) => d.namespace)) {
      const live = await targetsOf(namespace);
      if (!live) {
        // Checked (without a verdict) so that they do not hold the front of the queue every run.
        for (const doc of nsDocs) outcomes.push(unchanged(doc, now));
        continue;
      }
      const nsRefs = refs.filter((r) => r.namespace === namespace);
      const missing = await missingIds(live, nsRefs);
      for (const doc of nsDocs) {
        const docRefs = nsRefs.filter(
          (r) => r.doc_id === doc.id && live.some((t) => t.spec.id === r.version),
        );
        const lost = docRefs.filter((r) => missing.has(r.chunk_id));
        const decision = decide(doc, lost.length, limits.perDocument, now);
        outcomes.push(decision.outcome);
        if (decision.abandon) {
          count(namespace, "abandoned", 1);
          deps.logger.error("repair.vectors_abandoned", {
            namespace,
            docId: doc.id,
            missing: lost.length,
            attempts: doc.vector_repairs,
            error: `vectors still missing after ${limits.perDocument} repairs by the index health check`,
          });
        }
        if (decision.repair) toRepair.set(docKey(namespace, doc.id), doc.vectors_suspect ? docRefs : lost);
      }
    }
    if (toRepair.size > 0) {
      const texts = selectWithinBudget(await readChunkTexts(db, docs, toRepair), budget);
      const repaired = await upsertChunks(deps, docs, texts, targetsOf);
      for (const [key, n] of repaired) {
        const doc = docs.find((d) => docKey(d.namespace, d.id) === key);
        if (!doc) continue;
        count(doc.namespace, "repairedVectors", n);
        deps.logger.info("repair.vectors_upserted", { namespace: doc.namespace, docId: doc.id, vectors: n });
      }
      for (const o of outcomes) {
        const key = docKey(o.doc.namespace, o.doc.id);
        const n = repaired.get(key);
        if (n === undefined) continue;
        o.upserted = 1;
        // A suspect document is cleared once every one of its chunks was embedded again.
        if (n >= (toRepair.get(key)?.length ?? 0)) o.suspect = 0;
      }
    }
    for (const raced of await writeOutcomes(db, outcomes)) {
      // A newer write got in while the repair ran: see writeOutcomes.
      deps.logger.warn("repair.vectors_raced", { namespace: raced.namespace, docId: raced.id });
    }
  }
  return result;
}

/**
 * Indexed documents to check, least recently checked first (never checked before all), as many as
 * fit `checks` chunk ids (at least one, whatever its size), with their chunk ids: one query.
 */
async function readCandidates(
  db: D1Database,
  cutoff: number,
  limit: number,
  checks: number,
): Promise<{ docs: Candidate[]; refs: ChunkRef[] }> {
  const { results } = await db
    .prepare(
      `WITH picked AS (
         SELECT namespace, id, indexed_etag AS etag, metadata, chunk_count, vector_repairs,
           vector_repair_etag, vector_missing, vectors_suspect,
           ROW_NUMBER() OVER (ORDER BY vectors_checked_at, indexed_at) AS pos,
           SUM(chunk_count) OVER (ORDER BY vectors_checked_at, indexed_at ROWS UNBOUNDED PRECEDING) AS running
         FROM (SELECT * FROM documents
               WHERE status = 'indexed' AND indexed_at < ?1 AND indexed_etag IS NOT NULL
                 AND (vector_repaired_at IS NULL OR vector_repaired_at < ?1)
               ORDER BY vectors_checked_at, indexed_at LIMIT ?2))
       SELECT p.namespace, p.id, p.etag, p.metadata, p.chunk_count, p.vector_repairs,
         p.vector_repair_etag, p.vector_missing, p.vectors_suspect, p.pos, c.version, c.chunk_id
       FROM picked p
       LEFT JOIN chunks c ON c.namespace = p.namespace AND c.doc_id = p.id
       WHERE p.pos = 1 OR p.running <= ?3
       ORDER BY p.pos, c.version, c.idx`,
    )
    .bind(cutoff, limit, checks)
    .all<Candidate & { pos: number; version: string | null; chunk_id: string | null }>();
  const docs = new Map<number, Candidate>();
  const refs: ChunkRef[] = [];
  for (const { pos, version, chunk_id, ...doc } of results) {
    if (!docs.has(pos)) docs.set(pos, doc);
    if (version !== null && chunk_id !== null) {
      refs.push({ namespace: doc.namespace, doc_id: doc.id, version, chunk_id });
    }
  }
  return { docs: [...docs.values()], refs };
}

/** The chunk ids of `refs` that no live version's index has. */
async function missingIds(live: readonly WriteTarget[], refs: readonly ChunkRef[]): Promise<Set<string>> {
  const missing = new Set<string>();
  for (const target of live) {
    const ids = refs.filter((r) => r.version === target.spec.id).map((r) => r.chunk_id);
    if (ids.length === 0) continue;
    const found = new Set((await getVectors(target.index, ids)).map((v) => v.id));
    for (const id of ids) if (!found.has(id)) missing.add(id);
  }
  return missing;
}

/** The document's repair state as it was, checked now. */
function unchanged(doc: Candidate, now: number): Outcome {
  return {
    doc,
    checkedAt: now,
    repairs: doc.vector_repairs,
    missing: doc.vector_missing,
    repairedAt: null,
    suspect: doc.vectors_suspect ? 1 : 0,
    upserted: 0,
  };
}

/**
 * Whether to repair the document, or give up on it. An attempt counts against the version when
 * the previous one made no progress (as many vectors missing as then, or more).
 */
function decide(
  doc: Candidate,
  missing: number,
  maxAttempts: number,
  now: number,
): { outcome: Outcome; repair: boolean; abandon: boolean } {
  const sameVersion = doc.vector_repair_etag === doc.etag;
  const clean: Outcome = {
    doc,
    checkedAt: now,
    repairs: 0,
    missing: 0,
    repairedAt: null,
    suspect: 0,
    upserted: 0,
  };
  if (missing === 0 && !doc.vectors_suspect) return { outcome: clean, repair: false, abandon: false };
  const stalled = sameVersion && doc.vector_repairs > 0 && missing >= doc.vector_missing;
  const attempts = stalled ? doc.vector_repairs : 0;
  if (attempts >= maxAttempts) {
    // Given up on now (one past the limit records that the alert went out), or already.
    const abandon = attempts === maxAttempts;
    const outcome = {
      ...clean,
      repairs: abandon ? attempts + 1 : attempts,
      missing,
      suspect: doc.vectors_suspect ? 1 : 0,
    };
    return { outcome, repair: false, abandon };
  }
  // Checked again first, once the repair's writes have had time to apply.
  const outcome = {
    ...clean,
    checkedAt: 0,
    repairs: attempts + 1,
    missing,
    repairedAt: now,
    suspect: doc.vectors_suspect ? 1 : 0,
  };
  return { outcome, repair: true, abandon: false };
}

async function readChunkTexts(
  db: D1Database,
  docs: readonly Candidate[],
  wanted: ReadonlyMap<string, ChunkRef[]>,
): Promise<ChunkText[]> {
  const etags = new Map(docs.map((d) => [docKey(d.namespace, d.id), d.etag]));
  const ids = [...wanted].flatMap(([key, refs]) => refs.map((r) => [r.chunk_id, etags.get(key) ?? ""]));
  // Only while the document is still indexed at the version checked: a newer one is being written.
  const { results } = await db
    .prepare(
      `SELECT c.chunk_id, c.namespace, c.doc_id, c.version, c.idx, c.title, c.headings, c.text, c.tokens
       FROM json_each(?1) j
       JOIN chunks c ON c.chunk_id = json_extract(j.value, '$[0]')
       JOIN documents d ON d.namespace = c.namespace AND d.id = c.doc_id AND d.status = 'indexed'
         AND d.etag = json_extract(j.value, '$[1]') AND d.indexed_etag = d.etag
       ORDER BY c.namespace, c.doc_id, c.version, c.idx`,
    )
    .bind(JSON.stringify(ids))
    .all<ChunkText>();
  return results;
}

/** The chunks that fit the run's chunk and token budgets, in order, and takes them from it. */
function selectWithinBudget(
  chunks: readonly ChunkText[],
  budget: { chunks: number; tokens: number },
): ChunkText[] {
  const out: ChunkText[] = [];
  for (const c of chunks) {
    if (budget.chunks <= 0 || (out.length > 0 && c.tokens > budget.tokens)) break;
    out.push(c);
    budget.chunks -= 1;
    budget.tokens -= c.tokens;
  }
  return out;
}

/**
 * Embeds the chunks with their version's model and upserts them under their own ids, one embed
 * call and one upsert per (namespace, version). Answers the vectors written per document; a
 * failed group is logged, and counts as an attempt without progress for its documents.
 */
async function upsertChunks(
  deps: VectorRepairDeps,
  docs: readonly Candidate[],
  chunks: readonly ChunkText[],
  targetsOf: (namespace: string) => Promise<WriteTarget[] | null>,
): Promise<Map<string, number>> {
  const written = new Map<string, number>();
  const metadata = new Map(docs.map((d) => [docKey(d.namespace, d.id), parseJson<Metadata>(d.metadata, {})]));
  for (const [, group] of groupBy(chunks, (c) => `${c.namespace}\u0000${c.version}`)) {
    const first = group[0];
    if (!first) continue;
    const target = (await targetsOf(first.namespace))?.find((t) => t.spec.id === first.version);
    if (!target) continue;
    try {
      const values = await target.embedder.embed(
        group.map((c) =>
          embeddingTextOf(
            { title: c.title, headings: parseJson<string[]>(c.headings, []), text: c.text },
            target.embedder.maxInputTokens,
          ),
        ),
        "document",
      );
      const vectorNs = await vectorNamespace(first.namespace, first.version);
      const records: VectorRecord[] = group.map((c, i) => ({
        id: c.chunk_id,
        values: values[i] ?? new Float32Array(target.embedder.dimensions),
        namespace: vectorNs,
        metadata: { ...metadata.get(docKey(c.namespace, c.doc_id)), [DOC_ID_FIELD]: c.doc_id },
      }));
      await upsertAll(target.index, records);
      for (const c of group) {
        const key = docKey(c.namespace, c.doc_id);
        written.set(key, (written.get(key) ?? 0) + 1);
      }
    } catch (err) {
      for (const doc of new Set(group.map((c) => c.doc_id))) {
        deps.logger.warn("repair.vectors_failed", {
          namespace: first.namespace,
          docId: doc,
          version: first.version,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }
  return written;
}

/**
 * Writes what the run decided, and answers the documents that changed while their repair ran. A
 * newer write records its eTag before its vectors are written (the API, or the consumer for a
 * direct upload), so a document still indexed at the version repaired, after the upsert, had no
 * newer vectors for the repair to overwrite. One that changed may now hold this version's text in
 * some of its vectors: it is marked so that its next check embeds all of its chunks again. The
 * check is part of the update: no statement more.
 */
async function writeOutcomes(
  db: D1Database,
  outcomes: readonly Outcome[],
): Promise<{ namespace: string; id: string }[]> {
  if (outcomes.length === 0) return [];
  const rows = outcomes.map((o) => [
    o.doc.namespace,
    o.doc.id,
    o.doc.etag,
    o.checkedAt,
    o.repairs,
    o.missing,
    o.repairedAt,
    o.suspect,
    o.upserted,
  ]);
  const { results } = await db
    .prepare(
      `UPDATE documents SET vectors_checked_at = r.checked, vector_repairs = r.repairs,
         vector_repair_etag = r.tag, vector_missing = r.missing,
         vector_repaired_at = COALESCE(r.repaired, vector_repaired_at),
         vectors_suspect = CASE WHEN r.upserted = 1 AND NOT (documents.status = 'indexed'
             AND documents.etag IS r.tag AND documents.indexed_etag IS r.tag) THEN 1 ELSE r.suspect END
       FROM (SELECT json_extract(value, '$[0]') AS ns, json_extract(value, '$[1]') AS doc,
               json_extract(value, '$[2]') AS tag, json_extract(value, '$[3]') AS checked,
               json_extract(value, '$[4]') AS repairs, json_extract(value, '$[5]') AS missing,
               json_extract(value, '$[6]') AS repaired, json_extract(value, '$[7]') AS suspect,
               json_extract(value, '$[8]') AS upserted
             FROM json_each(?1)) AS r
       WHERE documents.namespace = r.ns AND documents.id = r.doc
       RETURNING namespace, id, vectors_suspect`,
    )
    .bind(JSON.stringify(rows))
    .all<{ namespace: string; id: string; vectors_suspect: number }>();
  // Documents upserted whole were written back with 0: a 1 is the mark of a race.
  const upserted = new Set(
    outcomes.filter((o) => o.upserted === 1 && o.suspect === 0).map((o) => docKey(o.doc.namespace, o.doc.id)),
  );
  return results.filter((r) => r.vectors_suspect === 1 && upserted.has(docKey(r.namespace, r.id)));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

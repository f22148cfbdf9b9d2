// Metadata filters compiled to SQL select exactly the documents matchesFilter() accepts (the
// semantics the vector index applies), checked on random metadata and filters against real D1.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { metadataFilterSql } from "../../src/store/keyword";
import { matchesFilter, validateFilter } from "../../src/vectors/filter";
import type { MetadataFilter, VectorMetadata } from "../../src/vectors/vector-index";

// Few distinct values, so random filters hit stored ones; strings chosen to tell code point order
// (U+FFFD before U+1F600) from UTF-16 order, numbers to mix integers and reals.
const STRINGS = ["", "a", "b", "Z", "é", "10", "\uFFFD", "😀", "a😀"];
const NUMBERS = [0, 1, -1, 2.5, 10, 1e21, -0.5];
const FIELDS = ["a", "b", "c", "missing", "a.b"];

const scalar = fc.oneof(fc.constantFrom(...STRINGS), fc.constantFrom(...NUMBERS), fc.boolean());
const metadata = fc.dictionary(fc.constantFrom("a", "b", "c"), scalar, { maxKeys: 3 });
const bound = fc.oneof(fc.constantFrom(...STRINGS), fc.constantFrom(...NUMBERS));
const condition = fc.oneof(
  scalar,
  fc.constant(null),
  fc.record({ $eq: fc.oneof(scalar, fc.constant(null)) }),
  fc.record({ $ne: fc.oneof(scalar, fc.constant(null)) }),
  fc.record({ $in: fc.array(scalar, { minLength: 1, maxLength: 4 }) }),
  fc.record({ $nin: fc.array(scalar, { minLength: 1, maxLength: 4 }) }),
  fc.record({ $gt: bound }),
  fc.record({ $lte: bound }),
  fc.oneof(
    fc.record({ $gte: fc.constantFrom(...NUMBERS), $lt: fc.constantFrom(...NUMBERS) }),
    fc.record({ $gt: fc.constantFrom(...STRINGS), $lte: fc.constantFrom(...STRINGS) }),
  ),
);
const filter = fc.dictionary(fc.constantFrom(...FIELDS), condition, { minKeys: 1, maxKeys: 3 });

async function matchingIds(namespace: string, f: MetadataFilter): Promise<string[]> {
  const where = metadataFilterSql(f, "metadata", 2);
  const { results } = await env.DB.prepare(
    `SELECT id FROM documents WHERE namespace = ?1 AND ${where.sql} ORDER BY id`,
  )
    .bind(namespace, ...where.params)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

describe("metadata filters in SQL", () => {
  it("select exactly what matchesFilter accepts", async () => {
    const namespace = `filter-${Date.now().toString(36)}`;
    const docs = fc.sample(metadata, { numRuns: 80, seed: 7 });
    docs.push({}, { a: true }, { a: false }, { a: 1 }, { a: "1" });
    const ids = docs.map((_, i) => `d${String(i).padStart(3, "0")}`);
    await env.DB.batch(
      docs.map((m, i) =>
        env.DB.prepare(
          `INSERT INTO documents (namespace, id, status, content_type, metadata, created_at, updated_at)
           VALUES (?1, ?2, 'indexed', 'text/plain', ?3, 0, 0)`,
        ).bind(namespace, ids[i], JSON.stringify(m)),
      ),
    );
    let nonTrivial = 0;
    await fc.assert(
      fc.asyncProperty(filter, async (raw) => {
        let f: MetadataFilter;
        try {
          f = validateFilter(raw);
        } catch {
          return; // Not a filter the API would accept.
        }
        const expected = ids.filter((_, i) => matchesFilter(docs[i] as VectorMetadata, f));
        if (expected.length > 0 && expected.length < ids.length) nonTrivial++;
        expect(await matchingIds(namespace, f)).toEqual(expected);
      }),
      { numRuns: 300, seed: 42 },
    );
    // The random filters must actually split the documents, or the property says little.
    expect(nonTrivial).toBeGreaterThan(100);
  });

  it("keeps the number of bound parameters independent of $in list sizes", () => {
    // D1 binds at most 100 parameters per statement.
    const withList = (n: number) =>
      metadataFilterSql({ category: { $in: Array.from({ length: n }, (_, i) => `v${i}`) } }, "m", 1);
    expect(withList(500).params).toHaveLength(withList(1).params.length);
    expect(withList(500).sql).toBe(withList(1).sql);
  });
});

// The TypeScript tokenizer behind highlights against real D1 FTS5 with the keyword index's own
// tokenizer: for every query word and every row, FTS5 finds the row exactly when the TypeScript
// terms of the query meet the row's.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { indexTerms } from "../../src/search/fts-tokens";
import { queryMatch, queryTerms } from "../../src/search/snippet";
import { TOKENIZE, toFtsQuery } from "../../src/store/keyword";

const TABLE = "highlight_agreement";
const ROWS = [
  ..."run running runs runner ran rung".split(" "),
  ..."caress caresses pony ponies relate relational relativity general generalization".split(" "),
  ..."happy happiness hop hopping hope hoping agree agreed agreement conditional".split(" "),
  ..."cafe café Café CAFÉ cafe\u0301 naive naïve été ete ÉTÉ straße strasse Łódź lodz".split(" "),
  ..."Ωμέγα ωμεγα ωμέγα привет приветствия 日本語 ﬁle file x\u0301y xy".split(" "),
  ..."the a of is it's 2024 3.14 v8 e-mail email".split(" "),
  `${"a".repeat(61)}ings`,
  `${"a".repeat(56)}ings`,
  `${"a".repeat(56)}`,
];
const QUERIES = [
  ..."run runs running caress pony relational general happy hop hope agree agreement".split(" "),
  ..."café CAFE naïve ete été strasse lodz Ωμέγα ωμεγα приветствие 日本語 file fi le".split(" "),
  ..."the it s 2024 14 v8 mail e".split(" "),
  `${"a".repeat(61)}ings`,
  `${"a".repeat(56)}`,
];

describe("the highlight tokenizer agrees with D1's FTS5", () => {
  beforeAll(async () => {
    await env.DB.prepare(`DROP TABLE IF EXISTS ${TABLE}`).run();
    await env.DB.prepare(`CREATE VIRTUAL TABLE ${TABLE} USING fts5 (text, tokenize = '${TOKENIZE}')`).run();
    await env.DB.batch(
      ROWS.map((text, i) =>
        env.DB.prepare(`INSERT INTO ${TABLE} (rowid, text) VALUES (?1, ?2)`).bind(i + 1, text),
      ),
    );
  });

  it.each(QUERIES)("finds the same rows for %s", async (query) => {
    const match = toFtsQuery(query);
    const { results } = match
      ? await env.DB.prepare(`SELECT rowid AS id FROM ${TABLE} WHERE ${TABLE} MATCH ?1 ORDER BY rowid`)
          .bind(match)
          .all<{ id: number }>()
      : { results: [] };
    const terms = queryTerms(query);
    const expected = ROWS.flatMap((text, i) => (indexTerms(text).some((t) => terms.has(t)) ? [i + 1] : []));
    expect(results.map((r) => ROWS[r.id - 1])).toEqual(expected.map((id) => ROWS[id - 1]));
  });
});

// Prefix searches: FTS5 stems the prefix as a word and matches the terms that start with it; the
// highlight's queryMatch must find the same rows.
const PREFIX_QUERIES = [
  ..."ru runn runni running caress care pon ponies rel relation relational gen general".split(" "),
  ..."hap happi happiness hopp agree agreem cafe caf café naï ete str stras lod łó ωμ ωμέ при 日本".split(
    " ",
  ),
  ..."th it 20 v e ema mail fi ﬁl".split(" "),
  `${"a".repeat(60)}ing`,
];

describe("prefix highlights agree with D1's FTS5 prefix queries", () => {
  it.each(PREFIX_QUERIES)("finds the same rows for %s*", async (query) => {
    const match = toFtsQuery(query, true);
    const { results } = match
      ? await env.DB.prepare(`SELECT rowid AS id FROM ${TABLE} WHERE ${TABLE} MATCH ?1 ORDER BY rowid`)
          .bind(match)
          .all<{ id: number }>()
      : { results: [] };
    const { terms, prefix } = queryMatch(query, true);
    const hit = (t: string) => terms.has(t) || (prefix !== undefined && t.startsWith(prefix));
    const expected = ROWS.flatMap((text, i) => (indexTerms(text).some(hit) ? [i + 1] : []));
    expect(results.map((r) => ROWS[r.id - 1])).toEqual(expected.map((id) => ROWS[id - 1]));
  });
});

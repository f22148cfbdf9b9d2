// Maximum-size documents for the ingest's worst cases (the tests and `npm run bench -- ingest-worst`):
// ordinary prose in markdown (headings, paragraphs, lists, links, code) and a JSON array of
// records without a text field (flattened into "path: value" lines, the most text per byte).
// Seeded, so every run ingests the same bytes. ASCII only: characters and bytes agree.
import { seededRandom } from "./random.ts";

const WORDS = (
  "index search vector query document chunk token namespace shard version model embedding " +
  "result cache latency request worker queue batch retry storage bucket object metadata filter " +
  "ranking score fusion keyword relevance answer client server region replica primary write read " +
  "the a of and to in for on with by from as at that this is are was be it or an which each " +
  "every over under between through before after during while when where how why what system " +
  "service platform limit budget memory time cost plan measure report table field value record"
).split(" ");

function words(random: () => number, n: number) {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(random() * WORDS.length)] ?? "");
  return out;
}

function sentence(random: () => number) {
  const w = words(random, 8 + Math.floor(random() * 14));
  const first = w[0] ?? "";
  w[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return `${w.join(" ")}.`;
}

function paragraph(random: () => number, n: number) {
  return Array.from({ length: n }, () => sentence(random)).join(" ");
}

function markdownSection(random: () => number, i: number) {
  const parts = [`## ${words(random, 3).join(" ")} ${i}`, paragraph(random, 5)];
  if (i % 3 === 0) {
    parts.push(
      Array.from(
        { length: 4 },
        (_, k) => `- ${words(random, 6).join(" ")} [${k}](https://example.com/${i}/${k})`,
      ).join("\n"),
    );
  }
  if (i % 5 === 0) {
    parts.push(
      `\`\`\`js\nconst ${words(random, 1)[0]}${i} = search(${JSON.stringify(words(random, 3).join(" "))});\n\`\`\``,
    );
  }
  if (i % 7 === 0) parts.push(`### ${words(random, 4).join(" ")}`);
  parts.push(paragraph(random, 4));
  return parts.join("\n\n");
}

/**
 * A markdown document of at most `maxBytes` bytes, within a section's length of it.
 */
export function worstCaseMarkdown(maxBytes: number, seed: number = 1): string {
  const random = seededRandom(seed);
  const title = `# Worst case ${seed}`;
  const parts = [title];
  let size = title.length;
  for (let i = 1; ; i++) {
    const section = `\n\n${markdownSection(random, i)}`;
    if (size + section.length > maxBytes) break;
    parts.push(section);
    size += section.length;
  }
  return parts.join("");
}

/**
 * A JSON array of records of at most `maxBytes` bytes, within a record's length of it.
 */
export function worstCaseJson(maxBytes: number, seed: number = 1): string {
  const random = seededRandom(seed);
  const records = [];
  let size = 2;
  for (let i = 0; ; i++) {
    const record = JSON.stringify({
      id: `r${i}`,
      name: words(random, 4).join(" "),
      description: paragraph(random, 3),
      tags: words(random, 5),
      attributes: {
        region: words(random, 1)[0],
        score: Math.round(random() * 1000) / 10,
        active: random() < 0.5,
      },
    });
    const added = record.length + (records.length > 0 ? 1 : 0);
    if (size + added > maxBytes) break;
    records.push(record);
    size += added;
  }
  return `[${records.join(",")}]`;
}

// Redaction of a parsed document: its title, heading paths and section text, before chunking, so
// nothing derived from it (chunks, keyword rows, vectors, snippets, backups' chunks) holds what
// was replaced.
import type { ParsedDocument } from "../ingest/document";
import { addCounts, type RedactionCounts, type RedactionSettings, redactText } from "./scan";

export function redactDocument(
  doc: ParsedDocument,
  settings: RedactionSettings,
): { doc: ParsedDocument; counts: RedactionCounts } {
  const counts: RedactionCounts = {};
  const one = (text: string) => {
    const r = redactText(text, settings);
    addCounts(counts, r.counts);
    return r.text;
  };
  // A heading path repeats its headings before every section under them: each is redacted and
  // counted once.
  const headings = new Map<string, string>();
  const heading = (text: string) => {
    let clean = headings.get(text);
    if (clean === undefined) {
      clean = one(text);
      headings.set(text, clean);
    }
    return clean;
  };
  const sections = doc.sections.map((s) => ({ headings: s.headings.map(heading), text: one(s.text) }));
  const title = doc.title === undefined ? undefined : one(doc.title);
  return { doc: { ...doc, sections, ...(title === undefined ? {} : { title }) }, counts };
}

// Reading a backup back: its manifest (its signature verified, then checked for shape and for
// counts that agree with its parts), its parts in the order a restore takes them, each checked
// against the manifest's SHA-256, and their lines, each checked against its kind's schema and
// counted against the manifest.
import type { Config } from "../config";
import { AppError } from "../errors";
import { r2 } from "../store/r2";
import {
  backupPrefix,
  ChunkLineSchema,
  DocumentLineSchema,
  type Manifest,
  ManifestSchema,
  manifestKey,
  PART_KINDS,
  type Part,
  type PartKind,
  partGroup,
  sha256Hex,
  VectorLineSchema,
} from "./format";
import type { Job } from "./jobs";
import { verifyManifest } from "./signature";

/** The manifest (from the backups bucket) and the SHA-256 of its text, once its signature verifies. */
export async function readManifest(
  backups: R2Bucket,
  keys: Pick<Config, "backupSigningKey" | "adminApiKey">,
  namespace: string,
  backupId: string,
): Promise<{ manifest: Manifest; sha256: string } | null> {
  const object = await r2("read backup manifest", () => backups.get(manifestKey(namespace, backupId)));
  if (!object) return null;
  const text = await r2("read backup manifest", () => object.text());
  await verifyManifest(keys, backupId, text, object.customMetadata);
  let parsed: ReturnType<typeof ManifestSchema.safeParse>;
  try {
    parsed = ManifestSchema.safeParse(JSON.parse(text));
  } catch {
    throw new AppError("unprocessable", `the manifest of backup ${backupId} is not JSON`);
  }
  if (!parsed.success || parsed.data.namespace !== namespace || parsed.data.backupId !== backupId) {
    throw new AppError("unprocessable", `the manifest of backup ${backupId} is not a valid manifest`);
  }
  const m = parsed.data;
  const lines = partCounts(m.files);
  if (PART_KINDS.some((kind) => lines[kind] !== m.counts[kind])) {
    throw new AppError(
      "unprocessable",
      `the manifest of backup ${backupId} lists parts that disagree with its counts`,
    );
  }
  return { manifest: m, sha256: await sha256Hex(text) };
}

/** Lines per kind over the parts: what a manifest's counts say. */
export function partCounts(files: Part[]): Record<PartKind, number> {
  const counts = { documents: 0, chunks: 0, vectors: 0 };
  for (const f of files) counts[f.kind] += f.lines;
  return counts;
}

/** The parts in the order a manifest lists them and a restore reads them: by group, then kind. */
export function orderedParts(files: Part[]): Part[] {
  const order: Record<PartKind, number> = { documents: 0, chunks: 1, vectors: 2 };
  return [...files].sort(
    (a, b) => partGroup(a) - partGroup(b) || order[a.kind] - order[b.kind] || (a.name < b.name ? -1 : 1),
  );
}

export function groupsOf(manifest: Manifest): number[] {
  return [...new Set(manifest.files.map(partGroup))].sort((a, b) => a - b);
}

/** The manifest the job started from: the same bytes, or the job fails. */
export async function jobManifest(
  backups: R2Bucket,
  keys: Pick<Config, "backupSigningKey" | "adminApiKey">,
  job: Job,
): Promise<Manifest> {
  if (!job.from) throw new AppError("internal", `restore ${job.id} names no backup`, { retryable: false });
  const read = await readManifest(backups, keys, job.from.namespace, job.from.backupId);
  if (!read) throw new AppError("unprocessable", `the manifest of backup ${job.from.backupId} is gone`);
  if (read.sha256 !== job.manifestSha256) {
    throw new AppError(
      "unprocessable",
      `the manifest of backup ${job.from.backupId} changed during the restore`,
    );
  }
  return read.manifest;
}

/** The part's text, checked against the manifest. */
export async function readPart(backups: R2Bucket, manifest: Manifest, part: Part): Promise<string> {
  const key = `${backupPrefix(manifest.namespace, manifest.backupId)}${part.name}`;
  const object = await r2("read backup part", () => backups.get(key));
  if (!object) throw new AppError("unprocessable", `backup part ${part.name} is missing`);
  const text = await r2("read backup part", () => object.text());
  if ((await sha256Hex(text)) !== part.sha256) {
    throw new AppError(
      "unprocessable",
      `backup part ${part.name} does not match its SHA-256 in the manifest`,
    );
  }
  return text;
}

const schemas = { documents: DocumentLineSchema, chunks: ChunkLineSchema, vectors: VectorLineSchema };

/** The part's lines, each checked against its kind's schema, and their count against the manifest. */
export function parseLines(text: string, part: Part): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const parsed = schemas[part.kind].safeParse(value);
    if (!parsed.success) {
      throw new AppError("unprocessable", `line ${out.length + 1} of backup part ${part.name} is invalid`);
    }
    out.push(parsed.data);
  }
  if (out.length !== part.lines) {
    throw new AppError(
      "unprocessable",
      `backup part ${part.name} has ${out.length} lines; the manifest says ${part.lines}`,
    );
  }
  return out;
}

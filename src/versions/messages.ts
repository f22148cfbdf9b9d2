// Version work travels through the ingest queue next to document events: a build walks the
// namespace one batch per message, a purge deletes a retired version one batch per message. Each
// message carries where it starts, so a redelivery repeats the same batch and a restart resumes.
import { z } from "zod";

export const BackfillTaskSchema = z.object({
  kind: z.literal("version.backfill"),
  namespace: z.string().min(1),
  version: z.string().min(1),
  phase: z.enum(["scan", "sweep"]),
  cursor: z.string(),
});
export type BackfillTask = z.infer<typeof BackfillTaskSchema>;

export const PurgeTaskSchema = z.object({
  kind: z.literal("version.purge"),
  namespace: z.string().min(1),
  version: z.string().min(1),
});
export type PurgeTask = z.infer<typeof PurgeTaskSchema>;

export const VersionTaskSchema = z.discriminatedUnion("kind", [BackfillTaskSchema, PurgeTaskSchema]);
export type VersionTask = z.infer<typeof VersionTaskSchema>;

/** Whether a queue message is version work (as opposed to a document event). */
export function isVersionTask(body: unknown): boolean {
  return (
    typeof body === "object" &&
    body !== null &&
    "kind" in body &&
    typeof body.kind === "string" &&
    body.kind.startsWith("version.")
  );
}

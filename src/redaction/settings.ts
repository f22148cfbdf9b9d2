// Which kinds of personal data a namespace redacts at ingest (migrations/0018_redaction.sql), kept
// in the control database so a namespace move between data databases leaves them in place.
import { z } from "zod";
import { type D1Like, d1 } from "../store/d1";
import { NO_REDACTION, REDACTION_TYPES, type RedactionSettings } from "./scan";

const Flag = z.number().transform((n) => n !== 0);
const SettingsRow = z.object({ email: Flag, phone: Flag, card: Flag, iban: Flag, ip: Flag });

/**
 * The settings' columns, as `redact_<type>`, for a statement on the control database that joins
 * `namespace_redaction` as `alias` (the ingest reads them beside its quota state: src/quotas/store.ts).
 */
export function redactionColumns(alias: string): string {
  return REDACTION_TYPES.map((t) => `${alias}.${t} AS redact_${t}`).join(", ");
}

/** The settings from a row of `redactionColumns`: nothing redacted when the join found no row. */
export function redactionFromRow(row: Record<string, unknown>): RedactionSettings {
  const settings = { ...NO_REDACTION };
  for (const t of REDACTION_TYPES) {
    const flag = row[`redact_${t}`];
    if (flag !== null && flag !== undefined) settings[t] = Flag.parse(flag);
  }
  return settings;
}

export class RedactionStore {
  constructor(private readonly db: D1Like) {}

  /** The namespace's settings; nothing redacted when none were set. */
  async get(namespace: string): Promise<RedactionSettings> {
    const row = await d1("read redaction", () =>
      this.db
        .prepare("SELECT email, phone, card, iban, ip FROM namespace_redaction WHERE namespace = ?1")
        .bind(namespace)
        .first(),
    );
    return row ? SettingsRow.parse(row) : { ...NO_REDACTION };
  }

  async set(namespace: string, settings: RedactionSettings, keyId: string, now = Date.now()): Promise<void> {
    const flags = REDACTION_TYPES.map((t) => (settings[t] ? 1 : 0));
    await d1("write redaction", () =>
      this.db
        .prepare(
          `INSERT INTO namespace_redaction (namespace, email, phone, card, iban, ip, updated_by, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
           ON CONFLICT (namespace) DO UPDATE SET email = ?2, phone = ?3, card = ?4, iban = ?5, ip = ?6,
             updated_by = ?7, updated_at = ?8`,
        )
        .bind(namespace, ...flags, keyId, now)
        .run(),
    );
  }
}

// Backup manifests are signed: HMAC-SHA-256 over the manifest object's bytes, with a secret only
// the Worker holds. The manifest lists every part's SHA-256, so a verified manifest vouches for
// every part too. Hashes alone prove integrity, not origin: whoever can write the backups bucket
// could rewrite a part and its hash in the manifest together; without the secret they cannot sign.
//
// The key: the secret BACKUP_SIGNING_KEY when set, else one derived from ADMIN_API_KEY (HKDF), so
// a deployment with only the admin key still signs. The signature and the name of the secret it
// came from ride in the manifest object's custom metadata. Both secrets verify a manifest that
// names them: whoever holds ADMIN_API_KEY can restore anything anyway, so trusting its derived key
// adds no power, and setting BACKUP_SIGNING_KEY later keeps older backups restorable.
import type { Config } from "../config";
import { AppError } from "../errors";
import { derivedHmacKey, HMAC_SHA256 } from "../util/hmac-key";
import { hex } from "./format";

export const SIGNING_KEY_SOURCES = ["BACKUP_SIGNING_KEY", "ADMIN_API_KEY"] as const;
export type SigningKeySource = (typeof SIGNING_KEY_SOURCES)[number];

/** Custom metadata of a signed manifest object. */
export interface ManifestSignature {
  /** hex HMAC-SHA-256 of the manifest's bytes */
  signature: string;
  signatureKey: SigningKeySource;
}

type KeyConfig = Pick<Config, "backupSigningKey" | "adminApiKey">;

const encoder = new TextEncoder();
const DERIVATION_INFO = "edgesearch backup manifest signing key v1";

async function hmacKey(config: KeyConfig, source: SigningKeySource): Promise<CryptoKey | null> {
  if (source === "BACKUP_SIGNING_KEY") {
    if (!config.backupSigningKey) return null;
    return crypto.subtle.importKey("raw", encoder.encode(config.backupSigningKey), HMAC_SHA256, false, [
      "sign",
      "verify",
    ]);
  }
  return config.adminApiKey ? derivedHmacKey(config.adminApiKey, DERIVATION_INFO) : null;
}

/** The secret new manifests are signed with, or a clear error when the deployment has none. */
export function signingSource(config: KeyConfig): SigningKeySource {
  if (config.backupSigningKey) return "BACKUP_SIGNING_KEY";
  if (config.adminApiKey) return "ADMIN_API_KEY";
  throw new AppError(
    "unavailable",
    "backups are signed, and this deployment has no key to sign them with: set the secret BACKUP_SIGNING_KEY (or ADMIN_API_KEY)",
    { retryable: false },
  );
}

/** Signs a manifest's text: the custom metadata to store it with. */
export async function signManifest(config: KeyConfig, text: string): Promise<ManifestSignature> {
  const source = signingSource(config);
  const key = await hmacKey(config, source);
  if (!key) throw new AppError("internal", `no ${source} to sign with`, { retryable: false });
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(text));
  return { signature: hex(new Uint8Array(mac)), signatureKey: source };
}

function fromHex(text: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Checks a manifest's signature (from its object's custom metadata); throws a 422 that says why
 * when it is missing, names a secret this deployment lacks, or does not verify.
 */
export async function verifyManifest(
  config: KeyConfig,
  backupId: string,
  text: string,
  custom: Record<string, string> | undefined,
): Promise<void> {
  const refuse = (why: string) =>
    new AppError("unprocessable", `the manifest of backup ${backupId} ${why}; it is not restored`, {
      retryable: false,
    });
  const source = SIGNING_KEY_SOURCES.find((s) => s === custom?.signatureKey);
  const mac = fromHex(custom?.signature ?? "");
  if (!custom?.signature || !custom.signatureKey) {
    throw refuse("is not signed (backups taken before manifests were signed cannot be restored)");
  }
  if (!source || !mac) throw refuse("carries a malformed signature");
  const key = await hmacKey(config, source);
  if (!key) throw refuse(`was signed with ${source}, which this deployment does not have`);
  // crypto.subtle.verify compares in constant time.
  if (!(await crypto.subtle.verify("HMAC", key, mac, encoder.encode(text)))) {
    throw refuse(
      `does not match its signature (${source}): it was changed after the backup wrote it, or signed with another key`,
    );
  }
}

// Backup manifest signatures: which secret signs, which verify, and what a refusal says.
import { describe, expect, it } from "vitest";
import { signingSource, signManifest, verifyManifest } from "../../src/backup/signature";
import { AppError } from "../../src/errors";

const ADMIN = "admin-key-0123456789abcdef0123456789abcdef";
const SIGNING = "signing-key-0123456789abcdef0123456789abcd";
const TEXT = '{"format": 2, "files": []}';

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err;
}

describe("backup manifest signatures", () => {
  it("signs with BACKUP_SIGNING_KEY when set, else with a key derived from ADMIN_API_KEY", async () => {
    const both = await signManifest({ adminApiKey: ADMIN, backupSigningKey: SIGNING }, TEXT);
    const adminOnly = await signManifest({ adminApiKey: ADMIN, backupSigningKey: undefined }, TEXT);
    expect(both.signatureKey).toBe("BACKUP_SIGNING_KEY");
    expect(adminOnly.signatureKey).toBe("ADMIN_API_KEY");
    expect(both.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(adminOnly.signature).not.toBe(both.signature);
    // Derived, not the admin key itself: an HMAC with the raw admin key is another signature.
    const raw = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(ADMIN),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const rawMac = new Uint8Array(await crypto.subtle.sign("HMAC", raw, new TextEncoder().encode(TEXT)));
    expect(Array.from(rawMac, (b) => b.toString(16).padStart(2, "0")).join("")).not.toBe(adminOnly.signature);
  });

  it("still verifies a manifest signed with the admin-derived key once BACKUP_SIGNING_KEY is set", async () => {
    const signed = await signManifest({ adminApiKey: ADMIN, backupSigningKey: undefined }, TEXT);
    await expect(
      verifyManifest({ adminApiKey: ADMIN, backupSigningKey: SIGNING }, "b1", TEXT, { ...signed }),
    ).resolves.toBeUndefined();
  });

  it("refuses with 422 a changed manifest, a rotated key, a missing or malformed signature", async () => {
    const keys = { adminApiKey: ADMIN, backupSigningKey: SIGNING };
    const signed = { ...(await signManifest(keys, TEXT)) };
    // Each verification starts when its case is checked: a refusal nobody awaits yet would be an
    // unhandled rejection.
    const cases: [string, () => Promise<void>, RegExp][] = [
      ["changed", () => verifyManifest(keys, "b1", `${TEXT} `, signed), /does not match its signature/],
      [
        "rotated",
        () => verifyManifest({ ...keys, backupSigningKey: `${SIGNING}-new` }, "b1", TEXT, signed),
        /does not match its signature/,
      ],
      ["unsigned", () => verifyManifest(keys, "b1", TEXT, {}), /is not signed/],
      [
        "malformed",
        () => verifyManifest(keys, "b1", TEXT, { ...signed, signature: "not hex" }),
        /malformed signature/,
      ],
      [
        "unknown key",
        () => verifyManifest({ adminApiKey: ADMIN, backupSigningKey: undefined }, "b1", TEXT, signed),
        /BACKUP_SIGNING_KEY, which this deployment does not have/,
      ],
    ];
    for (const [name, verify, why] of cases) {
      const err = await refusal(verify());
      expect(err.status, name).toBe(422);
      expect(err.message, name).toMatch(why);
      expect(err.message, name).toContain("b1");
    }
  });

  it("refuses to start signing without any key, with a 503 that names the secret", () => {
    expect(() => signingSource({ adminApiKey: undefined, backupSigningKey: undefined })).toThrow(
      /set the secret BACKUP_SIGNING_KEY/,
    );
    let thrown: unknown;
    try {
      signingSource({ adminApiKey: undefined, backupSigningKey: undefined });
    } catch (err) {
      thrown = err;
    }
    expect(thrown instanceof AppError && thrown.status).toBe(503);
  });
});

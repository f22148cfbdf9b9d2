// Files (PDF, Office, images) as document bodies: fixtures imported with Vite's ?inline, and the
// PUT that sends one under its own content type.
import { exports } from "cloudflare:workers";
import { adminKey, TEST_ORIGIN } from "./index";

export const PDF = "application/pdf";
export const DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
export const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** The bytes of a fixture imported as a data: URL (Vite's ?inline). */
export function bytesOf(dataUrl: string): Uint8Array {
  const base64 = dataUrl.slice(dataUrl.indexOf(",") + 1);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

export async function putFile(ns: string, id: string, body: Uint8Array, contentType: string) {
  const res = await exports.default.fetch(
    new Request(`${TEST_ORIGIN}/v1/namespaces/${ns}/documents/${encodeURIComponent(id)}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${adminKey()}`, "content-type": contentType },
      body,
    }),
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

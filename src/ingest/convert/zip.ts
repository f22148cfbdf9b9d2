// Reads one named entry of a ZIP archive (an Office document is one) from its central directory:
// stored or deflated entries, inflated within the document's budget. ZIP64, encrypted entries
// and other methods are refused. Layout: PKWARE APPNOTE.TXT 4.3.12 (central directory header),
// 4.3.16 (end of central directory record), 4.3.7 (local file header).
import { AppError } from "../../errors";
import { type InflateBudget, inflate } from "./bytes";

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** Entries read from one central directory; an Office document has tens. */
export const MAX_ZIP_ENTRIES = 10_000;

function corrupt(what: string): AppError {
  return new AppError("unprocessable", `not a readable ZIP archive: ${what}`, { retryable: false });
}

/** The inflated bytes of `name`, or null when the archive has no such entry. */
export async function readZipEntry(
  zip: Uint8Array,
  name: string,
  budget: InflateBudget,
): Promise<Uint8Array | null> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The end record sits in the last 22 bytes plus a comment of at most 65,535.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt("no end of central directory");
  const count = view.getUint16(eocd + 10, true);
  let at = view.getUint32(eocd + 16, true);
  if (count === 0xffff || at === 0xffffffff) throw corrupt("ZIP64 is not supported");
  const wanted = new TextEncoder().encode(name);
  for (let n = 0; n < Math.min(count, MAX_ZIP_ENTRIES); n++) {
    if (at + 46 > zip.length || view.getUint32(at, true) !== CENTRAL) throw corrupt("bad central directory");
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const entryName = zip.subarray(at + 46, at + 46 + nameLength);
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (!sameBytes(entryName, wanted)) continue;
    if (flags & 1) throw corrupt(`${name} is encrypted`);
    if (local + 30 > zip.length || view.getUint32(local, true) !== LOCAL) throw corrupt("bad local header");
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > zip.length) throw corrupt(`${name} runs past the end`);
    const data = zip.subarray(start, start + size);
    if (method === 0) return data;
    if (method === 8) return inflate(data, "deflate-raw", budget, false);
    throw corrupt(`${name} uses compression method ${method}`);
  }
  return null;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The personal data detectors: what each one replaces, and the look-alikes it leaves alone.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { oddString } from "../../scripts/lib/fuzz-documents.ts";
import { seededRandom } from "../../scripts/lib/random.ts";
import {
  ibanValid,
  luhnValid,
  NO_REDACTION,
  REDACTION_TOKENS,
  REDACTION_TYPES,
  type RedactionSettings,
  redactText,
} from "../../src/redaction/scan";

const ALL: RedactionSettings = { email: true, phone: true, card: true, iban: true, ip: true };
const redact = (text: string, settings = ALL) => redactText(text, settings).text;

describe("redactText: true positives", () => {
  it.each([
    ["Write to jane.doe+news@example.co.uk today.", "Write to [EMAIL] today."],
    ['<a href="mailto:ops@corp.example">', '<a href="mailto:[EMAIL]">'],
    ["Call +1 (555) 123-4567 now", "Call [PHONE] now"],
    ["Call (555) 123-4567.", "Call [PHONE]."],
    ["Ring 555.123.4567 or 555-123-4567", "Ring [PHONE] or [PHONE]"],
    ["UK: +44 20 7946 0958", "UK: [PHONE]"],
    ["Mobile 07700 900123, 2 times", "Mobile [PHONE], 2 times"],
    ["Toll free 1-800-555-0199", "Toll free [PHONE]"],
    ["+4915112345678", "[PHONE]"],
    ["Card 4111 1111 1111 1111 expires", "Card [CARD] expires"],
    ["Card 4111-1111-1111-1111", "Card [CARD]"],
    ["Card 378282246310005.", "Card [CARD]."],
    ["IBAN DE89 3704 0044 0532 0130 00 is mine", "IBAN [IBAN] is mine"],
    ["IBAN GB82WEST12345698765432.", "IBAN [IBAN]."],
    ["From 192.168.1.10:443 to 10.0.0.1.", "From [IP]:443 to [IP]."],
    ["Host 2001:db8::8a2e:370:7334 and [::1]:80", "Host [IP] and [[IP]]:80"],
    ["fe80::1ff:fe23:4567:890a%eth0", "[IP]%eth0"],
    ["Full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 form", "Full [IP] form"],
    ["Mapped ::ffff:192.0.2.128 here", "Mapped [IP] here"],
  ])("%s", (input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it("counts each type", () => {
    const { counts } = redactText("a@b.io c@d.io 10.1.1.1 4111111111111111", ALL);
    expect(counts).toEqual({ email: 2, ip: 1, card: 1 });
  });
});

describe("redactText: look-alikes stay", () => {
  it.each([
    ["version numbers", "Upgrade to 1.2.3 or v1.2.3.4 or 1.2.3.4.5 of node 22.11.0"],
    ["out-of-range octets", "999.1.1.1 and 256.0.0.1"],
    ["dates", "Due 2024-01-15, paid 15.01.2024, logged 2024-01-15 10:30:00 and 2024 01 15 12 30"],
    ["times and MAC addresses", "At 12:30:45 from 00:1A:2B:3C:4D:5E"],
    ["C++ scopes", "std::vector and cafe::beef and Foo::Bar"],
    ["16 random digits failing Luhn", "Order 4111 1111 1111 1112 and 1234567812345678"],
    ["ISBNs", "ISBN 978-3-16-148410-0 and 0-306-40615-2 and 9783161484100"],
    ["long ids and timestamps", "id 1700000000123 and 12345678901234567890123"],
    ["amounts", "$1,234,567.89 and 1 234 567 and 3.14159265358979"],
    ["an IBAN with a bad check", "DE89 3704 0044 0532 0130 01 and GB82WEST12345698765431"],
    ["words with @ that are no addresses", "@handle, a@b, x@localhost, @@, user@-bad.com"],
    ["short numbers", "Room 101, ext. 4567, 555-1234"],
  ])("%s", (_, input) => {
    expect(redact(input)).toBe(input);
  });

  it("redacts only the enabled types", () => {
    const text = "jane@example.com 10.0.0.1 +1 555 123 4567";
    expect(redact(text, { ...NO_REDACTION, ip: true })).toBe("jane@example.com [IP] +1 555 123 4567");
    expect(redact(text, NO_REDACTION)).toBe(text);
  });

  it("leaves text without personal data unchanged on random input", () => {
    const next = seededRandom(7);
    const fragments = ["a", "1", ".", "-", " ", "@", ":", "(", ")", "+", "x", "\n", "é"];
    for (let k = 0; k < 500; k++) {
      let s = "";
      for (let j = 0; j < 40; j++) s += fragments[Math.floor(next() * fragments.length)];
      const { text, counts } = redactText(s, ALL);
      // Whatever was replaced is counted, and everything else is the input's.
      const total = REDACTION_TYPES.reduce((n, t) => n + (counts[t] ?? 0), 0);
      if (total === 0) expect(text).toBe(s);
      else expect(text).not.toBe(s);
    }
  });
});

describe("checksums", () => {
  it("Luhn", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(luhnValid("79927398713")).toBe(true);
  });

  it("IBAN mod 97", () => {
    expect(ibanValid("DE89370400440532013000")).toBe(true);
    expect(ibanValid("DE89370400440532013001")).toBe(false);
  });
});

describe("redactText on generated text", () => {
  // Fragments that start or nearly make every kind, mixed with any text.
  const PIECES = [
    "a@b.io",
    "x.y+z@sub.example.org",
    "@",
    ".",
    "-",
    " ",
    "+",
    "(",
    ")",
    ":",
    "::",
    "1",
    "4111 1111 1111 1111",
    "555-123-4567",
    "+44 20 7946 0958",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "192.168.0.1",
    "2001:db8::1",
    "2024-01-15",
    "[EMAIL]",
    "é",
    "\n",
  ];
  const text = fc.oneof(
    fc.array(fc.constantFrom(...PIECES), { maxLength: 30 }).map((parts) => parts.join("")),
    fc
      .array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 6, unit: "grapheme" })), {
        maxLength: 30,
      })
      .map((parts) => parts.join("")),
    oddString,
  );

  it("counts exactly the tokens it writes", () => {
    fc.assert(
      fc.property(text, (input) => {
        const { text: out, counts } = redactText(input, ALL);
        for (const t of REDACTION_TYPES) {
          const token = REDACTION_TOKENS[t];
          expect(out.split(token).length - input.split(token).length).toBe(counts[t] ?? 0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves nothing to redact among values that stand apart", () => {
    // Values glued together are read as a whole (a phone number's digits before an "@" are an
    // address's local part), and redacting one changes what its neighbour reads as.
    const spaced = fc.array(fc.constantFrom(...PIECES), { maxLength: 30 }).map((parts) => parts.join(" "));
    fc.assert(
      fc.property(spaced, (input) => {
        const out = redactText(input, ALL).text;
        expect(redactText(out, ALL).text).toBe(out);
      }),
      { numRuns: 2000 },
    );
  });
});

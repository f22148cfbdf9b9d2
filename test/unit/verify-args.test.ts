// `npm run verify`'s settings: where the API key comes from, and what it refuses before calling
// anything. (The flags themselves go through the scripts' shared strict parser.)
import { describe, expect, it } from "vitest";
import { UsageError } from "../../scripts/lib/args.ts";
import { verifySettings } from "../../scripts/lib/verify.ts";

const devKey = () => "es_dev_local";
const noDevKey = () => undefined;

describe("npm run verify settings", () => {
  it("takes the key from --key, else EDGESEARCH_API_KEY, else .dev.vars for a local URL", () => {
    const env = { EDGESEARCH_API_KEY: "es_env" };
    const url = "http://127.0.0.1:8787";
    expect(verifySettings({ url, key: "es_flag" }, env, devKey)).toMatchObject({ apiKey: "es_flag" });
    expect(verifySettings({ url }, env, devKey)).toMatchObject({ apiKey: "es_env" });
    expect(verifySettings({ url }, {}, devKey)).toMatchObject({ apiKey: "es_dev_local", baseUrl: url });
  });

  it("never sends the dev key to a remote URL, and refuses to run without a key", () => {
    expect(() => verifySettings({ url: "https://search.example.com" }, {}, devKey)).toThrow(
      /no API key for https:\/\/search.example.com: pass --key KEY or set EDGESEARCH_API_KEY/,
    );
    expect(() => verifySettings({ url: "http://localhost:8787" }, {}, noDevKey)).toThrow(UsageError);
  });

  it("defaults to the verify-canary namespace, 120 s per waiting step and the category field", () => {
    expect(verifySettings({ key: "k" }, {}, noDevKey)).toEqual({
      help: false,
      baseUrl: "http://localhost:8787",
      apiKey: "k",
      namespace: "verify-canary",
      timeoutMs: 120_000,
      filterField: "category",
    });
    expect(verifySettings({ key: "k", namespace: "ops-check", timeout: "30" }, {}, noDevKey)).toMatchObject({
      namespace: "ops-check",
      timeoutMs: 30_000,
    });
  });

  it("refuses bad values as usage errors", () => {
    for (const values of [
      { timeout: "0" },
      { timeout: "soon" },
      { namespace: "Not A Namespace" },
      { "filter-field": "a.b" },
      { url: "ftp://example.com" },
    ]) {
      expect(() => verifySettings({ key: "k", ...values }, {}, noDevKey), JSON.stringify(values)).toThrow(
        UsageError,
      );
    }
  });
});

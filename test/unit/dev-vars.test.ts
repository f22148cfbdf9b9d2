// The scripts' API key: EDGESEARCH_API_KEY when set, else the dev server's key from .dev.vars,
// and that one only for a server on this machine.
import { describe, expect, it } from "vitest";
import { apiKeyShell, connectionSettings } from "../../scripts/lib/args.ts";
import { adminKeyFromDevVars, isLoopback } from "../../scripts/lib/dev-vars.ts";

describe("dev admin key", () => {
  it("reads the ADMIN_API_KEY line of a .dev.vars file", () => {
    expect(adminKeyFromDevVars("FOO=1\nADMIN_API_KEY=es_dev_abc123\n")).toBe("es_dev_abc123");
    expect(adminKeyFromDevVars('# local\nexport ADMIN_API_KEY = "es_dev_quoted"\r\n')).toBe("es_dev_quoted");
    expect(adminKeyFromDevVars("ADMIN_API_KEY=es_dev_x # made by npm run dev")).toBe("es_dev_x");
    expect(adminKeyFromDevVars("OTHER_ADMIN_API_KEY=nope\nADMIN_API_KEY=\n")).toBeUndefined();
    expect(adminKeyFromDevVars("")).toBeUndefined();
  });

  it("knows which URLs are this machine", () => {
    for (const url of ["http://localhost:8787", "http://127.0.0.1:8788", "http://[::1]:8787"])
      expect(isLoopback(new URL(url)), url).toBe(true);
    for (const url of ["https://search.example.com", "http://10.0.0.5:8787", "http://localhost.example.com"])
      expect(isLoopback(new URL(url)), url).toBe(false);
  });

  it("prefers EDGESEARCH_API_KEY, falls back to the dev key locally, and never sends it elsewhere", () => {
    const devKey = () => "es_dev_local";
    expect(connectionSettings({}, { EDGESEARCH_API_KEY: "es_live_1" }, devKey).apiKey).toBe("es_live_1");
    expect(connectionSettings({}, {}, devKey)).toEqual({
      baseUrl: "http://localhost:8787",
      apiKey: "es_dev_local",
    });
    expect(connectionSettings({ url: "https://search.example.com/" }, {}, devKey)).toEqual({
      baseUrl: "https://search.example.com",
      apiKey: undefined,
    });
    expect(connectionSettings({}, {}, () => undefined).apiKey).toBeUndefined();
  });

  it("prints the key for pasted commands as the variable that holds it, or as read from .dev.vars", () => {
    expect(apiKeyShell({ EDGESEARCH_API_KEY: "es_live_1" })).toBe("$EDGESEARCH_API_KEY");
    // Without the variable (the README's quickstart), the same expression the README uses for KEY.
    expect(apiKeyShell({})).toBe("$(sed -n 's/^ADMIN_API_KEY=//p' .dev.vars)");
  });
});

// client/src/api.ts is generated from the OpenAPI document the Worker serves; this fails when a
// route's schema changed and the client's types were not regenerated (`npm run client:types`).
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { generateApiTypes, type OpenApiDocument } from "../../scripts/lib/openapi-types.ts";
import { TEST_ORIGIN } from "../support";

describe("client types", () => {
  it("match the OpenAPI document the Worker serves", async () => {
    const res = await exports.default.fetch(new Request(`${TEST_ORIGIN}/openapi.json`));
    expect(res.status).toBe(200);
    const generated = generateApiTypes((await res.json()) as OpenApiDocument);
    await expect(generated).toMatchFileSnapshot(
      "../../client/src/api.ts",
      "client/src/api.ts is out of date: run npm run client:types",
    );
  });
});

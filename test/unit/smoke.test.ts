import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";

it("serves", async () => {
  const res = await exports.default.fetch("http://x/");
  expect(await res.text()).toBe("ok");
  const r = await env.DB.prepare("select 1 as one").first();
  expect(r).toEqual({ one: 1 });
});

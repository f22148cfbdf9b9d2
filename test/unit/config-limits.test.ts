// wrangler.toml against the platform's configuration limits: rate limit periods, environment
// variables, queue consumer settings. The provision plan refuses an environment that breaks one.
import { describe, expect, it } from "vitest";
import {
  configLimitProblems,
  d1DatabaseProblems,
  MAX_D1_DATABASES_FREE,
  MAX_ENV_VAR_BYTES,
  MAX_ENV_VARS_FREE,
} from "../../scripts/lib/config-limits.ts";
import { emptyState, planProvision, resolveEnvironment, SECRETS } from "../../scripts/lib/provision-plan.ts";
import { parseToml } from "../../scripts/lib/provision-toml.ts";
import wranglerToml from "../../wrangler.toml?raw";

const BROKEN = `name = "edgesearch"

[env.staging.vars]
BIG = "${"x".repeat(MAX_ENV_VAR_BYTES + 1)}"

[[env.staging.ratelimits]]
name = "RATE_LIMIT_LOW"
namespace_id = "2001"
simple = { limit = 20, period = 30 }

[[env.staging.ratelimits]]
name = "RATE_LIMIT_HIGH"
namespace_id = "2003"
simple = { limit = 0, period = 60 }

[[env.staging.queues.consumers]]
queue = "edgesearch-staging-ingest"
max_batch_size = 101
max_batch_timeout = 61
max_retries = 101
`;

describe("platform limits in wrangler.toml", () => {
  it("holds in every environment of the project's wrangler.toml", () => {
    const data = parseToml(wranglerToml).data;
    for (const env of [null, "staging", "production"]) {
      const config = resolveEnvironment(data, env);
      expect(config.limits, String(env)).toEqual([]);
      // Each environment declares the three key tiers and the failed-authentication limiter; a period
      // other than 10 or 60 would fail.
      const section =
        env === null ? data : ((data.env as Record<string, Record<string, unknown>>)[env] ?? {});
      expect((section.ratelimits as unknown[]).length, String(env)).toBe(4);
    }
  });

  it("counts the D1 databases of every environment against a Free account's 10", () => {
    const data = parseToml(wranglerToml).data;
    expect(d1DatabaseProblems(data)).toEqual([]);
    const envs = (n: number) =>
      Array.from(
        { length: n },
        (_, i) =>
          `[[env.e${i}.d1_databases]]\nbinding = "DB"\ndatabase_name = "db-${i}"\ndatabase_id = "${i}"\n`,
      ).join("\n");
    expect(d1DatabaseProblems(parseToml(envs(MAX_D1_DATABASES_FREE)).data)).toEqual([]);
    expect(d1DatabaseProblems(parseToml(envs(MAX_D1_DATABASES_FREE + 1)).data)).toEqual([
      "11 D1 databases across environments: an account on Workers Free holds at most 10",
    ]);
  });

  it("names each broken rate limit, oversized var and consumer setting", () => {
    const section = (parseToml(BROKEN).data.env as Record<string, Record<string, unknown>>).staging ?? {};
    expect(configLimitProblems(section, SECRETS.length)).toEqual([
      'rate limit RATE_LIMIT_LOW: "ratelimits" bindings "simple.period" must be either 10 or 60 but got 30',
      'rate limit RATE_LIMIT_HIGH: "simple.limit" must be a positive whole number but got 0',
      `var BIG is ${MAX_ENV_VAR_BYTES + 1} bytes: an environment variable holds at most ${MAX_ENV_VAR_BYTES}`,
      "consumer of edgesearch-staging-ingest: max_batch_size is 101, Queues allows 0 to 100",
      "consumer of edgesearch-staging-ingest: max_batch_timeout is 61, Queues allows 0 to 60",
      "consumer of edgesearch-staging-ingest: max_retries is 101, Queues allows 0 to 100",
    ]);
  });

  it("counts secrets with the vars against the Free plan's 64 variables", () => {
    const vars = Object.fromEntries(
      Array.from({ length: MAX_ENV_VARS_FREE - SECRETS.length }, (_, i) => [`V${i}`, "1"]),
    );
    expect(configLimitProblems({ vars }, SECRETS.length)).toEqual([]);
    expect(configLimitProblems({ vars: { ...vars, ONE_MORE: "1" } }, SECRETS.length)).toEqual([
      `65 environment variables (${SECRETS.length} of them secrets): Workers Free allows 64, Paid 128`,
    ]);
  });

  it("makes the provision plan refuse the environment", () => {
    const config = resolveEnvironment(parseToml(BROKEN).data, "staging");
    const conflicts = planProvision(config, emptyState()).filter((s) => s.status === "conflict");
    expect(conflicts.map((s) => s.title)).toEqual(config.limits);
    expect(conflicts).toHaveLength(6);
  });
});

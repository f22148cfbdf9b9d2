// Platform limits one environment of wrangler.toml must respect, checked before anything is
// deployed: the provision plan turns each problem into a conflict, and the unit tests run it on
// every environment of the project's wrangler.toml. Pure, no I/O.

/**
 * Rate Limiting bindings: "The period must be 10 or 60" seconds. Source: cloudflare-docs
 * src/content/docs/workers/runtime-apis/bindings/rate-limit.mdx; wrangler refuses any other with
 * this text (workers-sdk packages/workers-utils/src/config/validation.ts).
 */
export const RATE_LIMIT_PERIODS = [10, 60];
/**
 * Environment variables, secrets and text combined: 64 per Worker on Workers Free, 128 on Paid;
 * each at most 5 KB (read as 5,000 bytes, the stricter reading). Source:
 * https://developers.cloudflare.com/workers/platform/limits/#environment-variables
 * (src/content/docs/workers/platform/limits.mdx). Checked against the Free plan's count.
 */
export const MAX_ENV_VARS_FREE = 64;
export const MAX_ENV_VARS_PAID = 128;
export const MAX_ENV_VAR_BYTES = 5000;
/**
 * Queue consumers: batch size at most 100 messages, batch wait at most 60 s, 100 retries. Source:
 * https://developers.cloudflare.com/queues/platform/limits/ (src/content/docs/queues/platform/limits.mdx).
 */
export const MAX_CONSUMER_BATCH_SIZE = 100;
export const MAX_CONSUMER_BATCH_TIMEOUT_S = 60;
export const MAX_CONSUMER_RETRIES = 100;

const isTable = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const tables = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isTable) : []);
const encoder = new TextEncoder();

/**
 * What one environment's section of wrangler.toml declares beyond the platform's limits.
 * @param section the top level, or an [env.x] table
 * @param secrets how many secrets the Worker also has (they count as variables)
 * @returns one sentence per problem; empty when everything fits
 */
export function configLimitProblems(section: Record<string, unknown>, secrets: number): string[] {
  const problems: string[] = [];
  for (const binding of tables(section.ratelimits)) {
    const simple = isTable(binding.simple) ? binding.simple : {};
    const name = String(binding.name ?? "?");
    if (!RATE_LIMIT_PERIODS.includes(simple.period as number)) {
      problems.push(
        `rate limit ${name}: "ratelimits" bindings "simple.period" must be either 10 or 60 but got ${JSON.stringify(simple.period)}`,
      );
    }
    const limit = simple.limit;
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
      problems.push(
        `rate limit ${name}: "simple.limit" must be a positive whole number but got ${JSON.stringify(limit)}`,
      );
    }
  }

  const vars = isTable(section.vars) ? section.vars : {};
  const count = Object.keys(vars).length + secrets;
  if (count > MAX_ENV_VARS_FREE) {
    problems.push(
      `${count} environment variables (${secrets} of them secrets): Workers Free allows ${MAX_ENV_VARS_FREE}, Paid ${MAX_ENV_VARS_PAID}`,
    );
  }
  for (const [key, value] of Object.entries(vars)) {
    const bytes = encoder.encode(typeof value === "string" ? value : JSON.stringify(value)).byteLength;
    if (bytes > MAX_ENV_VAR_BYTES) {
      problems.push(
        `var ${key} is ${bytes} bytes: an environment variable holds at most ${MAX_ENV_VAR_BYTES}`,
      );
    }
  }

  const queues = isTable(section.queues) ? section.queues : {};
  for (const consumer of tables(queues.consumers)) {
    const queue = String(consumer.queue ?? "?");
    const bounds: [string, number][] = [
      ["max_batch_size", MAX_CONSUMER_BATCH_SIZE],
      ["max_batch_timeout", MAX_CONSUMER_BATCH_TIMEOUT_S],
      ["max_retries", MAX_CONSUMER_RETRIES],
    ];
    for (const [key, max] of bounds) {
      const value = consumer[key];
      if (value !== undefined && (typeof value !== "number" || value < 0 || value > max)) {
        problems.push(`consumer of ${queue}: ${key} is ${JSON.stringify(value)}, Queues allows 0 to ${max}`);
      }
    }
  }
  return problems;
}

/**
 * D1 databases per account: 10 on Workers Free, 50,000 on Paid. Source:
 * https://developers.cloudflare.com/d1/platform/limits/ (src/content/docs/d1/platform/limits.mdx).
 * Checked against Free's 10: a deployment of every environment must fit a Free account.
 */
export const MAX_D1_DATABASES_FREE = 10;

/**
 * The D1 databases every environment of wrangler.toml declares together, against the account's
 * limit (environments share one account).
 * @param data the whole parsed wrangler.toml
 * @returns one sentence when over the limit; empty when everything fits
 */
export function d1DatabaseProblems(data: Record<string, unknown>): string[] {
  const sections = [data, ...(isTable(data.env) ? Object.values(data.env).filter(isTable) : [])];
  const names = new Set(
    sections.flatMap((s) => tables(s.d1_databases).map((d) => String(d.database_name ?? "?"))),
  );
  return names.size > MAX_D1_DATABASES_FREE
    ? [
        `${names.size} D1 databases across environments: an account on Workers Free holds at most ${MAX_D1_DATABASES_FREE}`,
      ]
    : [];
}

// Failed authentications per client address. Each request whose key does not authenticate is
// counted against its address (CF-Connecting-IP; an IPv6 address by its /64, which one client
// usually holds whole) by a Workers Rate Limiting binding; requests that authenticate are never
// counted. Past the limit the address is answered 429 before its key is looked up, in this isolate
// until the period ends, so a client guessing keys costs at most one D1 read per isolate per
// period once it is over the limit. Requests without CF-Connecting-IP (Cloudflare's edge sets it
// to "the client IP address connecting to Cloudflare":
// https://developers.cloudflare.com/fundamentals/reference/http-headers/; only local
// development, tests and service bindings lack it) are not counted.
import { setBounded } from "../util/bounded-map";

/**
 * The binding's period in wrangler.toml (AUTH_FAILURE_LIMIT). Cloudflare accepts 10 or 60:
 * https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/ ("Period: the
 * duration of the period, in seconds. Must be either 10 or 60"); wrangler refuses others with
 * '"ratelimits" bindings "simple.period" must be either 10 or 60' (workers-sdk
 * packages/workers-utils/src/config/validation.ts). Counts are per Cloudflare location.
 */
export const AUTH_FAILURE_PERIOD_SECONDS = 60;

/** Addresses an isolate remembers as over the limit; the oldest go first past this. */
export const MAX_BLOCKED_ADDRESSES = 10_000;

// Isolate-lifetime: address -> when it may try again (epoch ms).
const blocked = new Map<string, number>();

export function clearBlockedAddresses(): void {
  blocked.clear();
}

/** The key an address is counted under: IPv4 as is, IPv6 by its first 64 bits; null if absent. */
export function clientAddressKey(header: string | undefined): string | null {
  const ip = header?.trim();
  if (!ip) return null;
  // IPv4, and IPv4 written in IPv6 ("::ffff:192.0.2.1"): the IPv4 address.
  if (!ip.includes(":") || ip.includes(".")) return ip.slice(ip.lastIndexOf(":") + 1);
  const [head = "", tail = ""] = ip.toLowerCase().split("::", 2);
  const left = head ? head.split(":") : [];
  const right = ip.includes("::") && tail ? tail.split(":") : [];
  const missing = Math.max(0, 8 - left.length - right.length);
  const groups = [...left, ...Array<string>(missing).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** Seconds until a blocked address may try again, or null when it is not blocked here. */
export function blockedFor(address: string, now: number): number | null {
  const until = blocked.get(address);
  if (until === undefined) return null;
  if (until <= now) {
    blocked.delete(address);
    return null;
  }
  return Math.max(1, Math.ceil((until - now) / 1000));
}

/**
 * Counts one failed authentication of `address`. Returns false when the address is now over the
 * limit (and remembers it as blocked until the period ends). A limiter that fails lets it through:
 * keys are still checked, only the brake is lost.
 */
export async function countFailure(limiter: RateLimit, address: string, now: number): Promise<boolean> {
  let success: boolean;
  try {
    ({ success } = await limiter.limit({ key: address }));
  } catch {
    return true;
  }
  if (success) return true;
  setBounded(blocked, address, now + AUTH_FAILURE_PERIOD_SECONDS * 1000, MAX_BLOCKED_ADDRESSES);
  return false;
}

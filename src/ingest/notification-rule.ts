// The documents bucket's R2 event notification rule, defined once in notification-rule.json:
// `npm run provision` creates it on the bucket (scripts/lib/provision-plan.ts) and the local
// stand-in (local-notifications.ts) applies it, so a key or action the deployed rule skips is
// skipped offline too. R2 allows one rule per bucket and queue ("For a given bucket, only one
// event notification rule can be created per queue", https://developers.cloudflare.com/r2/buckets/event-notifications/#limitations).
import { z } from "zod";
import rule from "./notification-rule.json";

const EventTypeSchema = z.enum(["object-create", "object-delete"]);

export const NotificationRuleSchema = z.strictObject({
  eventTypes: z.array(EventTypeSchema).min(1),
  /** Only keys that start with this (empty: every key). */
  prefix: z.string(),
  /** Only keys that end with this (empty: every key). */
  suffix: z.string(),
});
export type NotificationRule = z.infer<typeof NotificationRuleSchema>;

const RuleFileSchema = z.strictObject({
  rule: NotificationRuleSchema,
  /** The actions behind each event type (same page, "Event types"). */
  actionsByEventType: z.record(EventTypeSchema, z.array(z.string()).min(1)),
});
const ruleFile = RuleFileSchema.parse(rule);

export const DOCUMENTS_NOTIFICATION_RULE: NotificationRule = ruleFile.rule;
export const EVENT_TYPE_ACTIONS: Readonly<Record<NotificationRule["eventTypes"][number], readonly string[]>> =
  ruleFile.actionsByEventType;

/** Whether R2 sends a notification under `rule` for `action` on `key`. */
export function ruleMatches(rule: NotificationRule, action: string, key: string): boolean {
  return (
    key.startsWith(rule.prefix) &&
    key.endsWith(rule.suffix) &&
    rule.eventTypes.some((t) => EVENT_TYPE_ACTIONS[t].includes(action))
  );
}

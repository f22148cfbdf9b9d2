// Structured JSON logs: one object per line with level, event, requestId and fields. Never pass
// document text, queries' full text or secrets as fields.

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger whose lines also carry these fields (requestId, namespace, ...). */
  child(fields: LogFields): Logger;
}

export type LogSink = (level: LogLevel, line: string) => void;

const consoleSink: LogSink = (level, line) => {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

export function createLogger(minLevel: LogLevel = "info", base: LogFields = {}, sink = consoleSink): Logger {
  const emit = (level: LogLevel, event: string, fields?: LogFields) => {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const record: LogFields = { ts: new Date().toISOString(), level, event, ...base };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) record[k] = v instanceof Error ? describeError(v) : v;
    }
    sink(level, JSON.stringify(record));
  };
  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
    child: (fields) => createLogger(minLevel, { ...base, ...fields }, sink),
  };
}

function describeError(err: Error): LogFields {
  return { name: err.name, message: err.message, stack: err.stack };
}

// Structured logs: one line per event. Human-readable on a terminal, JSON lines otherwise (journald, files),
// so the same call serves an operator watching and a log pipeline parsing.
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

export function createLogger(
  stream: { write(s: string): unknown; isTTY?: boolean } = process.stderr,
  minLevel: LogLevel = "info",
  now: () => Date = () => new Date(),
): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  const human = stream.isTTY === true;
  return {
    log(level, event, message, fields = {}) {
      if (order[level] < order[minLevel]) return;
      const time = now().toISOString();
      const defined = Object.entries(fields).filter(([, v]) => v !== undefined);
      if (human) {
        const extra = defined.map(
          ([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : v}`,
        );
        stream.write(
          `${time} ${level.toUpperCase().padEnd(5)} ${event}: ${message}${extra.length ? "  " + extra.join(" ") : ""}\n`,
        );
      } else {
        stream.write(
          JSON.stringify({ time, level, event, msg: message, ...Object.fromEntries(defined) }) + "\n",
        );
      }
    },
  };
}

// Structured logs: one line per event. Human-readable on a terminal, JSON lines otherwise (files, pipes),
// so the same call serves an operator watching and a log pipeline parsing. Under systemd (stderr is the
// journal) each event goes to journald natively, with its syslog priority and its fields as journal fields.
import { encodeJournalEntry, JournalSocket, journalFieldName, stderrIsJournal } from "./journal";

export type LogLevel = "debug" | "info" | "warn" | "error" | "critical";
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

/** syslog(3) priority of each level: what journald files and filters on (`journalctl -p warning`). */
export const SYSLOG_PRIORITY: Readonly<Record<LogLevel, number>> = {
  debug: 7,
  info: 6,
  warn: 4,
  error: 3,
  critical: 2,
};

const ORDER: Readonly<Record<LogLevel, number>> = { debug: 0, info: 1, warn: 2, error: 3, critical: 4 };

type LogStream = { write(s: string): unknown; isTTY?: boolean };

function definedFields(fields: LogFields): Array<[string, string | number | boolean | null]> {
  return Object.entries(fields).filter(
    (e): e is [string, string | number | boolean | null] => e[1] !== undefined,
  );
}

/** `event: message  key=value ...`, the text an operator reads (terminal, `journalctl` MESSAGE). */
function eventText(event: string, message: string, defined: ReadonlyArray<[string, unknown]>): string {
  const extra = defined.map(
    ([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : v}`,
  );
  return `${event}: ${message}${extra.length ? "  " + extra.join(" ") : ""}`;
}

export function createLogger(
  stream: LogStream = process.stderr,
  minLevel: LogLevel = "info",
  now: () => Date = () => new Date(),
): Logger {
  const human = stream.isTTY === true;
  return {
    log(level, event, message, fields = {}) {
      if (ORDER[level] < ORDER[minLevel]) return;
      const time = now().toISOString();
      const defined = definedFields(fields);
      if (human) {
        stream.write(`${time} ${level.toUpperCase().padEnd(5)} ${eventText(event, message, defined)}\n`);
      } else {
        stream.write(
          JSON.stringify({ time, level, event, msg: message, ...Object.fromEntries(defined) }) + "\n",
        );
      }
    },
  };
}

/** Delivers one native journal datagram; throws when it could not. */
export interface JournalTransport {
  send(datagram: Buffer): void;
}

/**
 * Native journal entries: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=vipd, EVENT and every field upper-cased
 * (`ip` -> IP=). An entry the socket refuses (journald gone, too big) is written to `fallback` (the journal
 * stream) with its `<N>` prefix instead, so its priority survives even then; its fields are only in the text.
 */
export function createJournalLogger(
  transport: JournalTransport,
  fallback: LogStream,
  minLevel: LogLevel = "info",
): Logger {
  return {
    log(level, event, message, fields = {}) {
      if (ORDER[level] < ORDER[minLevel]) return;
      const defined = definedFields(fields);
      const text = eventText(event, message, defined);
      const entry: Array<[string, string]> = [
        ["MESSAGE", text],
        ["PRIORITY", String(SYSLOG_PRIORITY[level])],
        ["SYSLOG_IDENTIFIER", "vipd"],
        ["EVENT", event],
      ];
      for (const [key, value] of defined) {
        const name = journalFieldName(key);
        if (name && !entry.some(([n]) => n === name)) entry.push([name, String(value)]);
      }
      try {
        transport.send(encodeJournalEntry(entry));
      } catch {
        fallback.write(prefixLines(level, text));
      }
    },
  };
}

/** What `vipd run` logs to: journald natively when stderr is the journal, else `createLogger` on stderr. */
export function createServiceLogger(minLevel: LogLevel = "info"): Logger {
  if (stderrIsJournal()) {
    try {
      return createJournalLogger(new JournalSocket(), process.stderr, minLevel);
    } catch {
      // No socket: journald still reads the prefixes on the stream.
      return {
        log(level, event, message, fields = {}) {
          if (ORDER[level] < ORDER[minLevel]) return;
          process.stderr.write(prefixLines(level, eventText(event, message, definedFields(fields))));
        },
      };
    }
  }
  const buffered = turnBuffered(process.stderr);
  const logger = createLogger(buffered, minLevel);
  return {
    log(level, event, message, fields) {
      logger.log(level, event, message, fields);
      if (ORDER[level] >= ORDER.error) buffered.flush();
    },
  };
}

/**
 * Lines written during one event-loop turn go out in one write at its end. A takeover of 1,000 VIPs logs
 * about 2,000 lines in a few hundred ms, and stderr to a pipe is synchronous on Linux: one write(2) per line
 * was a measurable share of the failover. Errors and the process's exit flush at once, so nothing is lost.
 */
function turnBuffered(stream: NodeJS.WritableStream): LogStream & { flush(): void } {
  let pending = "";
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending === "") return;
    const text = pending;
    pending = "";
    stream.write(text);
  };
  process.on("exit", flush);
  return {
    isTTY: (stream as { isTTY?: boolean }).isTTY,
    flush,
    write(text: string): void {
      pending += text;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
}

/** Each line with sd-daemon(3)'s `<N>` prefix, which journald strips and stores as the line's priority. */
function prefixLines(level: LogLevel, text: string): string {
  return text
    .split("\n")
    .map((line) => `<${SYSLOG_PRIORITY[level]}>${line}\n`)
    .join("");
}

/**
 * A stderr line that is not a log event (start-up diagnostics, a fatal error): `<N>`-prefixed when stderr is
 * the journal, so `journalctl -p err` finds it; unchanged on a terminal or in a pipe.
 */
export function stderrText(level: LogLevel, text: string, journal: boolean = stderrIsJournal()): string {
  const body = text.endsWith("\n") ? text.slice(0, -1) : text;
  return journal ? prefixLines(level, body) : body + "\n";
}

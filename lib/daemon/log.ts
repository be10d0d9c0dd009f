// Structured logs: one line per event. Human-readable on a terminal, JSON lines otherwise (files, pipes),
// so the same call serves an operator watching and a log pipeline parsing. Under systemd (stderr is the
// journal) each event goes to journald natively, with its syslog priority and its fields as journal fields.
import { fstatSync } from "node:fs";
import { libc, setSendBuffer } from "../net/libc";
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
  widenLogOutput(process.stderr.fd);
  const buffered = turnBuffered(process.stderr);
  const logger = createLogger(buffered, minLevel);
  return {
    log(level, event, message, fields) {
      logger.log(level, event, message, fields);
      if (ORDER[level] >= ORDER.error) buffered.flush();
    },
  };
}

/** fcntl(2) commands for a pipe's capacity (linux/fcntl.h). */
export const F_SETPIPE_SZ = 1031;
export const F_GETPIPE_SZ = 1032;
/** What a log pipe or socket may hold: the most an unprivileged process may ask of a pipe (fs.pipe-max-size). */
export const LOG_BUFFER_BYTES = 1 << 20;

/**
 * Lets `fd` (stderr) hold LOG_BUFFER_BYTES when it is a pipe or a socket; returns what the kernel then
 * reports (a socket's send buffer is reported doubled), undefined for anything else or a refusal. A pipe holds
 * 64 KiB by default, a Unix socket ~200 KiB: ~400 and ~1,300 of our lines. A 10,000-VIP takeover logs ~5,000
 * lines in under a second, and a write to a full pipe or socket blocks the main thread until the reader
 * catches up: in the lab (a socket pair to the test), two writes waited ~60 ms each in the middle of a
 * survivor's adds (issue 14, round 19). A supervisor that reads our stderr (runit, s6, a container runtime,
 * journald's stream) reads in its own time too.
 */
export function widenLogOutput(fd: number | undefined): number | undefined {
  if (fd === undefined) return undefined;
  try {
    const stat = fstatSync(fd);
    const c = libc();
    if (stat.isFIFO()) {
      if (c.fcntl(fd, F_SETPIPE_SZ, LOG_BUFFER_BYTES) < 0) return undefined;
      return c.fcntl(fd, F_GETPIPE_SZ, 0);
    }
    if (stat.isSocket()) {
      const bytes = setSendBuffer(c, fd, LOG_BUFFER_BYTES);
      return bytes < 0 ? undefined : bytes;
    }
    return undefined;
  } catch {
    // No koffi, or no such descriptor: the default buffer still works, only with waits.
    return undefined;
  }
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

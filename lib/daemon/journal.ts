// journald's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL): one datagram per entry to
// /run/systemd/journal/socket, holding KEY=value fields. Unlike the `<N>` prefix of a stderr stream it carries
// the priority AND the structured fields (IP=, SERVICE=, ...), so `journalctl -o json` and `journalctl IP=...`
// work. Used only when stderr is the journal (JOURNAL_STREAM matches), i.e. when systemd runs vipd.
import { fstatSync } from "node:fs";
import { errnoName, libc, SOCK_CLOEXEC } from "../net/libc";
import { sockaddrUn } from "./sd-notify";

export const JOURNAL_SOCKET = "/run/systemd/journal/socket";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const MSG_NOSIGNAL = 0x4000;

/**
 * A journal field name for a log field key: `ownerNode` -> `OWNER_NODE`. journald accepts only A-Z, 0-9 and
 * `_`, at most 64 characters, not starting with a digit or `_` (those are trusted fields it sets itself).
 */
export function journalFieldName(key: string): string | undefined {
  const name = key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, "_");
  if (name.length === 0 || name.length > 64 || /^[0-9_]/.test(name)) return undefined;
  return name;
}

/**
 * One entry as a datagram. Values with a newline use the binary form (name, newline, 64-bit little-endian
 * length, value, newline); the others the plain `NAME=value` line.
 */
export function encodeJournalEntry(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const data = Buffer.from(value, "utf8");
    if (data.includes(0x0a)) {
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(data.length));
      parts.push(Buffer.from(`${name}\n`), length, data, Buffer.from("\n"));
    } else {
      parts.push(Buffer.from(`${name}=`), data, Buffer.from("\n"));
    }
  }
  return Buffer.concat(parts);
}

/**
 * True when fd 2 is the stream systemd connected to journald: JOURNAL_STREAM holds its `device:inode`
 * (systemd.exec(5)). A redirected stderr (a file, a pipe to a test) keeps the plain output.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = env.JOURNAL_STREAM;
  if (!expected) return false;
  try {
    const st = fstatSync(2, { bigint: true });
    return expected === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** The socket; `send` throws with the reason when the datagram could not be delivered. */
export class JournalSocket {
  private fd: number;
  private readonly address: Buffer;

  constructor(path = JOURNAL_SOCKET) {
    this.address = sockaddrUn(path);
    this.fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM) failed: ${errnoName(libc().errno())}`);
  }

  send(datagram: Buffer): void {
    if (this.fd < 0) throw new Error("journal socket is closed");
    const sent = libc().sendto(
      this.fd,
      datagram,
      datagram.length,
      MSG_NOSIGNAL,
      this.address,
      this.address.length,
    );
    if (sent < 0) throw new Error(`sendto(${JOURNAL_SOCKET}) failed: ${errnoName(libc().errno())}`);
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

// A stand-in for systemd's notify socket: binds an AF_UNIX datagram socket (Node's dgram has none, so
// through koffi's libc) and records every datagram with its arrival time. Used by the sd_notify tests.
import { rmSync } from "node:fs";
import { errnoName, libc, SOCK_CLOEXEC, SOCK_NONBLOCK } from "../../lib/net/libc";
import { sockaddrUn } from "../../lib/daemon/sd-notify";
import { waitUntil } from "../wait";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;

export interface NotifyMessage {
  /** performance.now() when it was read (polled every few ms). */
  readonly at: number;
  readonly text: string;
  /** KEY=VALUE lines as a map (the last value of a repeated key wins). */
  readonly fields: ReadonlyMap<string, string>;
}

export class NotifyReceiver {
  readonly messages: NotifyMessage[] = [];
  private fd: number;
  private readonly timer: NodeJS.Timeout;

  /** `path` is a file path, or `@name` for an abstract socket (in the caller's network namespace). */
  constructor(readonly path: string) {
    if (!path.startsWith("@")) rmSync(path, { force: true });
    this.fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error(`socket(AF_UNIX) failed: ${errnoName(libc().errno())}`);
    const address = sockaddrUn(path);
    if (libc().bind(this.fd, address, address.length) < 0) {
      const reason = errnoName(libc().errno());
      libc().close(this.fd);
      throw new Error(`bind(${path}) failed: ${reason}`);
    }
    this.timer = setInterval(() => this.drain(), 5);
  }

  /** Messages carrying `KEY=VALUE` (or just KEY when value is omitted). */
  with(key: string, value?: string): NotifyMessage[] {
    return this.messages.filter(
      (m) => m.fields.has(key) && (value === undefined || m.fields.get(key) === value),
    );
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
    await waitUntil(`${what} on the notify socket`, predicate, timeoutMs, {
      detail: () => `got:\n${this.messages.map((m) => JSON.stringify(m.text)).join("\n")}`,
    });
  }

  close(): void {
    clearInterval(this.timer);
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
    if (!this.path.startsWith("@")) rmSync(this.path, { force: true });
  }

  private drain(): void {
    const buffer = Buffer.alloc(4096);
    const from = Buffer.alloc(128);
    for (;;) {
      const fromLength = Buffer.alloc(4);
      fromLength.writeUInt32LE(from.length);
      const n = libc().recvfrom(this.fd, buffer, buffer.length, 0, from, fromLength);
      if (n < 0) return;
      const text = buffer.subarray(0, n).toString();
      const fields = new Map<string, string>();
      for (const line of text.split("\n")) {
        const eq = line.indexOf("=");
        if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
      }
      this.messages.push({ at: performance.now(), text, fields });
    }
  }
}

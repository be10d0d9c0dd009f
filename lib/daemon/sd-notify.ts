// systemd's readiness protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams to $NOTIFY_SOCKET.
// No Node package does this cleanly, so: libsystemd's own sd_notify through koffi when the library is
// there, else the datagram by hand through libc (Node's dgram has no AF_UNIX). Without NOTIFY_SOCKET
// (not started by systemd with Type=notify) every call is a no-op.
import koffi from "koffi";
import { errnoName, libc, SOCK_CLOEXEC } from "../net/libc";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

/** Delivers one notification; throws with the reason when it could not. */
export interface NotifyTransport {
  readonly kind: "libsystemd" | "socket";
  send(message: string): void;
  close(): void;
}

/** struct sockaddr_un for a path, or for an abstract name when the path starts with `@`. */
export function sockaddrUn(path: string): Buffer {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path);
  if (name.length + (abstract ? 1 : 0) >= SUN_PATH_MAX) throw new Error(`socket path too long: ${path}`);
  // Abstract names are length-delimited, with a leading NUL; paths end at their NUL.
  const sa = Buffer.alloc(2 + (abstract ? 1 + name.length : name.length + 1));
  sa.writeUInt16LE(AF_UNIX, 0);
  name.copy(sa, abstract ? 3 : 2);
  return sa;
}

/** The datagram by hand: one unconnected AF_UNIX socket, sendto the notify address each time. */
export class DatagramNotifyTransport implements NotifyTransport {
  readonly kind = "socket";
  private fd: number;
  private readonly address: Buffer;

  constructor(socketPath: string) {
    this.address = sockaddrUn(socketPath);
    this.fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM) failed: ${errnoName(libc().errno())}`);
  }

  send(message: string): void {
    if (this.fd < 0) throw new Error("notify socket is closed");
    const data = Buffer.from(message);
    const sent = libc().sendto(this.fd, data, data.length, MSG_NOSIGNAL, this.address, this.address.length);
    if (sent < 0) throw new Error(`sendto($NOTIFY_SOCKET) failed: ${errnoName(libc().errno())}`);
  }

  close(): void {
    if (this.fd >= 0) libc().close(this.fd);
    this.fd = -1;
  }
}

/** libsystemd's sd_notify: it reads NOTIFY_SOCKET from the process environment itself. */
export class LibsystemdNotifyTransport implements NotifyTransport {
  readonly kind = "libsystemd";
  private readonly sdNotify: (unsetEnvironment: number, state: string) => number;

  private constructor(fn: (unsetEnvironment: number, state: string) => unknown) {
    this.sdNotify = (u, s) => Number(fn(u, s));
  }

  /** undefined when libsystemd.so.0 cannot be loaded (no systemd on this machine, or musl). */
  static load(): LibsystemdNotifyTransport | undefined {
    try {
      const lib = koffi.load("libsystemd.so.0");
      return new LibsystemdNotifyTransport(lib.func("int sd_notify(int, const char *)"));
    } catch {
      return undefined;
    }
  }

  send(message: string): void {
    const result = this.sdNotify(0, message);
    if (result < 0) throw new Error(`sd_notify failed: ${errnoName(-result)}`);
    if (result === 0) throw new Error("sd_notify: NOTIFY_SOCKET is not set in the process environment");
  }

  close(): void {}
}

export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read. Default: process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Force one transport; "auto" prefers libsystemd (only usable when env is process.env). */
  readonly transport?: "auto" | "libsystemd" | "socket";
  readonly now?: () => number;
  readonly pid?: number;
}

/** What the reconcile loop reports on each pass; it becomes READY=1, WATCHDOG=1 and STATUS=. */
export interface LoopReport {
  readonly ready: boolean;
  readonly ownedIps: number;
  readonly totalIps: number;
  readonly membersAlive: number;
  readonly members: number;
}

/** The loop report of one pass: `owned` VIPs of `groups`' among `members`. */
export function loopReport(
  ready: boolean,
  owned: number,
  groups: ReadonlyArray<{ readonly ips: readonly string[] }>,
  members: ReadonlyArray<{ readonly state: string }>,
): LoopReport {
  return {
    ready,
    ownedIps: owned,
    totalIps: groups.reduce((n, g) => n + g.ips.length, 0),
    membersAlive: members.filter((m) => m.state === "alive").length,
    members: members.filter((m) => m.state !== "left").length,
  };
}

export function statusLine(r: LoopReport): string {
  const state = r.ready ? "" : "waiting for peers; ";
  return `${state}owning ${r.ownedIps} of ${r.totalIps} VIPs, ${r.membersAlive}/${r.members} members alive`;
}

/**
 * The daemon's side of the protocol. The reconcile loop calls `loop()` on every pass and that pass is
 * what feeds the watchdog: a wedged loop stops the pings and systemd restarts the service.
 */
export class ServiceNotifier {
  /** How often the loop must ping: half of WATCHDOG_USEC, when the watchdog is on for this process. */
  readonly watchdogPaceMs: number | undefined;
  readonly transportKind: NotifyTransport["kind"] | undefined;
  /** Failed sends (each is also remembered in lastError); sending never throws into the daemon. */
  errors = 0;
  lastError: string | undefined;
  private readonly transport: NotifyTransport | undefined;
  private readonly now: () => number;
  private readySent = false;
  private lastWatchdog = -Infinity;
  private lastStatus = "";

  constructor(options: NotifierOptions = {}) {
    const env = options.env ?? process.env;
    this.now = options.now ?? (() => performance.now());
    this.transport = openTransport(env, options.transport ?? "auto", env === process.env);
    this.transportKind = this.transport?.kind;
    const usec = Number(env.WATCHDOG_USEC);
    const watchdogPid = env.WATCHDOG_PID === undefined ? undefined : Number(env.WATCHDOG_PID);
    const forUs = watchdogPid === undefined || watchdogPid === (options.pid ?? process.pid);
    this.watchdogPaceMs =
      this.transport && forUs && Number.isFinite(usec) && usec > 0 ? usec / 2000 : undefined;
  }

  get enabled(): boolean {
    return this.transport !== undefined;
  }

  /** One reconcile pass done: READY=1 the first time it is ready, WATCHDOG=1 at the pace, STATUS= on change. */
  loop(report: LoopReport): void {
    if (!this.transport) return;
    const lines: string[] = [];
    if (report.ready && !this.readySent) {
      this.readySent = true;
      lines.push("READY=1");
    }
    const now = this.now();
    // Event-driven passes may come much faster than the tick; half a pace apart is plenty.
    if (this.watchdogPaceMs !== undefined && now - this.lastWatchdog >= this.watchdogPaceMs / 2) {
      this.lastWatchdog = now;
      lines.push("WATCHDOG=1");
    }
    const status = statusLine(report);
    if (status !== this.lastStatus) {
      this.lastStatus = status;
      lines.push(`STATUS=${status}`);
    }
    if (lines.length > 0) this.send(lines);
  }

  /** SIGHUP received: systemd shows "reloading" until `reloaded()`. */
  reloading(): void {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    this.send(["RELOADING=1", `MONOTONIC_USEC=${monotonicUsec}`, "STATUS=reloading the configuration"]);
  }

  reloaded(): void {
    // Before the first READY=1 the start-up is still pending; READY=1 comes from the loop then.
    this.lastStatus = "";
    this.send(this.readySent ? ["READY=1"] : []);
  }

  stopping(): void {
    this.send(["STOPPING=1", "STATUS=stopping: handing the VIPs over"]);
  }

  status(text: string): void {
    this.lastStatus = text;
    this.send([`STATUS=${text}`]);
  }

  close(): void {
    this.transport?.close();
  }

  private send(lines: readonly string[]): void {
    if (!this.transport || lines.length === 0) return;
    try {
      this.transport.send(lines.join("\n"));
    } catch (error) {
      this.errors++;
      this.lastError = (error as Error).message;
    }
  }
}

function openTransport(
  env: NodeJS.ProcessEnv,
  choice: "auto" | "libsystemd" | "socket",
  envIsProcessEnv: boolean,
): NotifyTransport | undefined {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return undefined;
  if (choice !== "socket" && envIsProcessEnv) {
    const viaLibsystemd = LibsystemdNotifyTransport.load();
    if (viaLibsystemd) return viaLibsystemd;
    if (choice === "libsystemd") throw new Error("libsystemd.so.0 cannot be loaded");
  }
  if (choice === "libsystemd") throw new Error("the libsystemd transport reads process.env only");
  return new DatagramNotifyTransport(socketPath);
}

// One vipd per host: checked before the daemon touches any address, netlink state or state file.
//
// The state directory is locked with flock(2) on `<stateDir>/vipd.lock`, which holds the owner's PID. flock
// and not an O_EXCL pidfile: the kernel drops the lock when its holder dies (SIGKILL, OOM), so there is no
// stale file to judge by PID liveness, and PID reuse cannot fool it. The gossip and metrics ports are
// test-bound too, so a second instance with another stateDir but the same bind is stopped just as early
// (two daemons in one network namespace would otherwise remove each other's marked addresses).
import koffi from "koffi";
import { createSocket } from "node:dgram";
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { errnoName } from "../net/libc";

const LOCK_EX = 2;
const LOCK_NB = 4;

let flockFn: ((fd: number, operation: number) => number) | undefined;
function flock(fd: number, operation: number): number {
  if (!flockFn) {
    const fn = koffi.load("libc.so.6").func("int flock(int, int)");
    flockFn = (f, op) => Number(fn(f, op));
  }
  return flockFn(fd, operation);
}

export class InstanceLock {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /**
   * Takes the lock of `stateDir` or throws naming the PID that holds it. The descriptor stays open (and
   * the lock held) for the life of the process; release() is for tests and orderly stops.
   */
  static acquire(stateDir: string): InstanceLock {
    const path = join(stateDir, "vipd.lock");
    try {
      mkdirSync(stateDir, { recursive: true });
    } catch (error) {
      throw new Error(`cannot create stateDir ${stateDir}: ${(error as Error).message}`, { cause: error });
    }
    let fd: number;
    try {
      // Not truncated on open: the holder's PID must stay readable until we own the lock.
      fd = openSync(path, "a+", 0o644);
    } catch (error) {
      throw new Error(`cannot open lock file ${path}: ${(error as Error).message}`, { cause: error });
    }
    if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const errno = errnoName(koffi.errno());
      closeSync(fd);
      if (errno !== "EWOULDBLOCK" && errno !== "EAGAIN") throw new Error(`cannot lock ${path}: ${errno}`);
      const holder = readPid(path);
      throw new Error(
        `another vipd is already running with stateDir ${stateDir}` +
          (holder ? ` (PID ${holder}, lock ${path})` : ` (lock ${path} is held)`) +
          `; refusing to start`,
      );
    }
    // Ours now: replace the previous holder's PID (appends land at the new end after truncation).
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
    return new InstanceLock(path, fd);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fails with a clear message when the UDP gossip bind or the TCP metrics listen address is in use, naming
 * the process that holds it when /proc tells. Both sockets are closed again at once: the real ones are
 * opened later by their owners.
 */
export async function checkBindsFree(gossip: { host: string; port: number }, metrics: string): Promise<void> {
  await checkUdp(gossip.host, gossip.port);
  const match = /^\[?([^\]]*)\]?:(\d+)$/.exec(metrics);
  if (match) await checkTcp(match[1] ?? "", Number(match[2]));
}

function checkUdp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: host.includes(":") ? "udp6" : "udp4" });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.close();
      reject(bindError("gossip bind", `${host}:${port}`, "udp", port, error));
    });
    socket.bind({ address: host || undefined, port, exclusive: true }, () => socket.close(() => resolve()));
  });
}

function checkTcp(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      server.close();
      reject(bindError("metrics listen", `${host}:${port}`, "tcp", port, error));
    });
    server.listen({ host: host || undefined, port, exclusive: true }, () => server.close(() => resolve()));
  });
}

function bindError(
  what: string,
  address: string,
  proto: "udp" | "tcp",
  port: number,
  error: NodeJS.ErrnoException,
): Error {
  if (error.code !== "EADDRINUSE") return new Error(`${what} ${address}: ${error.message}`);
  const holder = socketHolder(proto, port);
  return new Error(
    `${what} ${address} is already in use` +
      (holder ? ` by PID ${holder.pid} (${holder.command})` : "") +
      `: is another vipd running? refusing to start`,
  );
}

/** The process holding a socket bound to `port`, from /proc/net and /proc/<pid>/fd; undefined if unknown. */
export function socketHolder(
  proto: "udp" | "tcp",
  port: number,
): { pid: number; command: string } | undefined {
  const inodes = new Set<string>();
  for (const file of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode || inode === "0") continue;
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.add(`socket:[${inode}]`);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!inodes.has(target)) continue;
      let command = "";
      try {
        command = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      } catch {
        // gone meanwhile
      }
      return { pid: Number(entry), command: command.slice(0, 120) };
    }
  }
  return undefined;
}

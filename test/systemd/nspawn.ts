// A real systemd for the lab: Debian bookworm booted with systemd as PID 1 of a systemd-nspawn container,
// inside a network namespace of the lab. The rootfs (mmdebstrap minbase + systemd) is built once per machine
// and cached under /var/cache/vipd-test, keyed by its recipe so a changed recipe builds a new one; every boot
// runs on a throw-away overlay (--volatile=overlay), so the cache is never modified by a test.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ensureTools } from "./helpers";

const execFileAsync = promisify(execFile);

const CACHE = "/var/cache/vipd-test";
const ROOTFS_RECIPE = {
  suite: "bookworm",
  mirror: "http://deb.debian.org/debian",
  variant: "minbase",
  include: ["systemd", "systemd-sysv", "dbus", "iproute2", "procps", "libsystemd0", "init-system-helpers"],
  // Bump to force a rebuild when something outside this object changes what the rootfs must hold.
  revision: 1,
};

/** mmdebstrap, systemd-nspawn and nsenter; installed with apt on a fresh machine. */
export function ensureNspawnTools(): void {
  ensureTools({ mmdebstrap: "mmdebstrap", "systemd-nspawn": "systemd-container", nsenter: "util-linux" });
}

/** The cached rootfs, built (about 2 minutes, Debian mirror) when this recipe has none yet. */
export function cachedRootfs(log: (line: string) => void = () => {}): string {
  const key = createHash("sha256").update(JSON.stringify(ROOTFS_RECIPE)).digest("hex").slice(0, 16);
  const rootfs = join(CACHE, `rootfs-${ROOTFS_RECIPE.suite}-${key}`);
  if (existsSync(join(rootfs, "usr/lib/systemd/systemd"))) return rootfs;
  ensureNspawnTools();
  mkdirSync(CACHE, { recursive: true });
  // Built beside its final name and renamed: an interrupted build never looks like a cache hit.
  const building = `${rootfs}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  log(`building ${rootfs} with mmdebstrap`);
  const result = spawnSync(
    "mmdebstrap",
    [
      "--quiet",
      `--variant=${ROOTFS_RECIPE.variant}`,
      `--include=${ROOTFS_RECIPE.include.join(",")}`,
      ROOTFS_RECIPE.suite,
      building,
      ROOTFS_RECIPE.mirror,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 15 * 60_000 },
  );
  if (result.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    throw new Error(
      `mmdebstrap failed (needs root and the Debian mirror):\n${result.stderr}${result.stdout}`,
    );
  }
  if (existsSync(join(rootfs, "usr/lib/systemd/systemd"))) {
    rmSync(building, { recursive: true, force: true }); // another run finished first
  } else {
    rmSync(rootfs, { recursive: true, force: true });
    renameSync(building, rootfs);
  }
  return rootfs;
}

export interface ContainerOptions {
  readonly rootfs: string;
  /** Machine name, also the container's hostname (so vipd's node name). */
  readonly name: string;
  /** `ip netns` name the container's network lives in. */
  readonly netns: string;
  /** Host folders mounted read-only: host path -> path in the container. */
  readonly bindReadOnly?: Readonly<Record<string, string>>;
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A booted container; commands run in it through nsenter into the namespaces of its PID 1. */
export class Container {
  private output = "";
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly nspawn: ChildProcess,
  ) {
    nspawn.stdout?.on("data", (chunk: Buffer) => this.append(chunk));
    nspawn.stderr?.on("data", (chunk: Buffer) => this.append(chunk));
    nspawn.on("exit", () => (this.exited = true));
    // A test that crashes still takes its container down (nspawn leads its own process group).
    const killOnExit = (): void => {
      if (!this.exited && nspawn.pid !== undefined) {
        try {
          process.kill(-nspawn.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
    };
    process.once("exit", killOnExit);
    nspawn.on("exit", () => process.removeListener("exit", killOnExit));
  }

  /** Boots the container and waits until systemd reports running (or degraded). */
  static async boot(options: ContainerOptions, timeoutMs = 120_000): Promise<Container> {
    const binds = Object.entries(options.bindReadOnly ?? {}).map(
      ([host, inside]) => `--bind-ro=${host}:${inside}`,
    );
    const nspawn = spawn(
      "systemd-nspawn",
      [
        "--quiet",
        `--directory=${options.rootfs}`,
        `--machine=${options.name}`,
        "--boot",
        // A tmpfs overlay over the cached tree: everything the test does is gone at power-off.
        "--volatile=overlay",
        `--network-namespace-path=/run/netns/${options.netns}`,
        // nspawn drops CAP_NET_ADMIN with a foreign network namespace; vipd's unit needs it.
        "--capability=CAP_NET_ADMIN",
        // No machined on the host: run in the caller's cgroup, unregistered.
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        ...binds,
      ],
      { stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    const container = new Container(options.name, nspawn);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (container.exited)
        throw new Error(`systemd-nspawn exited during boot:\n${container.output.slice(-4000)}`);
      const state = await container.exec(["systemctl", "is-system-running"]).catch(() => undefined);
      const text = state?.stdout.trim();
      if (text === "running" || text === "degraded") return container;
      if (Date.now() > deadline) {
        await container.powerOff();
        throw new Error(
          `container not booted after ${timeoutMs} ms (state ${text}):\n${container.output.slice(-4000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /** The console output so far (boot messages, for failure reports). */
  get console(): string {
    return this.output;
  }

  /** PID (in the host's view) of the container's systemd. */
  pid1(): number {
    if (this.nspawn.pid === undefined) throw new Error("nspawn has no pid");
    const children = execFileSync("pgrep", ["-P", String(this.nspawn.pid), "-x", "systemd"], {
      encoding: "utf8",
    });
    const pid = Number(children.trim().split("\n")[0]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error("the container's systemd is not running");
    return pid;
  }

  /** Runs a command inside the container; never throws for a non-zero exit (the code is returned). */
  async exec(command: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    const pid = this.pid1();
    const args = [
      ...["-t", String(pid), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w"],
      ...["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "SYSTEMD_PAGER=", "LANG=C.UTF-8"],
      ...command,
    ];
    try {
      const { stdout, stderr } = await execFileAsync("nsenter", args, {
        encoding: "utf8",
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
      if (typeof e.code !== "number")
        throw new Error(`nsenter ${command.join(" ")}: ${e.message}`, { cause: error });
      return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  }

  /** Like exec, but a non-zero exit throws with the command's output. */
  async run(command: readonly string[], timeoutMs = 60_000): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.code !== 0)
      throw new Error(
        `in ${this.name}: ${command.join(" ")} exited ${result.code}:\n${result.stdout}${result.stderr}`,
      );
    return result.stdout;
  }

  /** `systemctl poweroff`, then SIGKILL for nspawn if it has not gone in 30 s. */
  async powerOff(): Promise<void> {
    if (this.exited) return;
    await this.exec(["systemctl", "poweroff"]).catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (!this.exited && this.nspawn.pid !== undefined) {
      try {
        process.kill(-this.nspawn.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }

  private append(chunk: Buffer): void {
    this.output += chunk.toString();
    if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
  }
}

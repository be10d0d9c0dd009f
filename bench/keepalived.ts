// keepalived 2.x as the peer the benchmarks measure vipd against: installed with apt when missing, run with
// VRRP only in the lab's node namespaces, one config per node. Shared by bench/failover and bench/scale.
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Lab } from "../test/lab/lab";
import { sleep } from "../test/lab/lab-helpers";

/** Installs keepalived from Debian's packages if it is missing; returns its version line. */
export function ensureKeepalived(): string {
  const found = spawnSync("keepalived", ["--version"], { encoding: "utf8" });
  if (found.status !== 0 && found.error) {
    console.log("keepalived is missing: installing it with apt-get");
    let r = spawnSync("apt-get", ["install", "-y", "keepalived"], { stdio: "inherit" });
    if (r.status !== 0) {
      spawnSync("apt-get", ["update"], { stdio: "inherit" });
      r = spawnSync("apt-get", ["install", "-y", "keepalived"], { stdio: "inherit" });
    }
    if (r.status !== 0) throw new Error("cannot install keepalived with apt-get");
  }
  const version = spawnSync("keepalived", ["--version"], { encoding: "utf8" });
  return `${version.stdout}${version.stderr}`.split("\n")[0].trim();
}

export interface VrrpTimers {
  version: 2 | 3;
  advertInt: string;
}

export interface VrrpInstance {
  name: string;
  vrid: number;
  /** The node (1-based) with the highest priority; it starts as MASTER, the usual deployment. */
  masterNode: number;
  /** Carried in the adverts (VRRP caps these; the first one sets the instance's address family). */
  addresses: readonly string[];
  /** Held and announced like the others, but left out of the adverts: how keepalived takes thousands. */
  excluded?: readonly string[];
}

/** One node's keepalived.conf: every instance on eth0, priorities 100/99/98 from its master down, preempt on. */
export function vrrpConfig(n: number, timers: VrrpTimers, instances: readonly VrrpInstance[]): string {
  const lines = [
    "global_defs {",
    `  router_id bench-node${n}`,
    `  vrrp_version ${timers.version}`,
    "  vrrp_garp_master_delay 0",
    "}",
  ];
  for (const inst of instances) {
    const rank = (n - inst.masterNode + 3) % 3;
    lines.push(
      `vrrp_instance ${inst.name} {`,
      `  state ${rank === 0 ? "MASTER" : "BACKUP"}`,
      "  interface eth0",
      `  virtual_router_id ${inst.vrid}`,
      `  priority ${100 - rank}`,
      `  advert_int ${timers.advertInt}`,
      "  virtual_ipaddress {",
      ...inst.addresses.map((a) => `    ${a} dev eth0`),
      "  }",
    );
    if (inst.excluded && inst.excluded.length > 0)
      lines.push("  virtual_ipaddress_excluded {", ...inst.excluded.map((a) => `    ${a} dev eth0`), "  }");
    lines.push("}");
  }
  return lines.join("\n") + "\n";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitExit(child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await Promise.race([new Promise((r) => child.once("exit", r)), sleep(timeoutMs)]);
}

/** keepalived processes in the lab's nodes, each with its own config, pid files and captured log. */
export class KeepalivedNodes {
  private readonly dir: string;
  private readonly children = new Map<number, ChildProcess>();
  private readonly logs = new Map<number, string[]>();
  /** Times each node logged "Entering MASTER STATE", over the whole run (the log itself keeps a tail). */
  private readonly masterCounts = new Map<number, number>();

  /**
   * `quiet`: no console log. With thousands of VIPs keepalived logs a line per NA, and reading that pipe
   * throttled keepalived itself (adverts and NAs came out at a few hundred per second); in production its
   * log goes to syslog, which does not push back like that.
   */
  constructor(
    private readonly lab: Lab,
    name: string,
    private readonly config: (n: number) => string,
    private readonly quiet = false,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `vipd-bench-${name}-`));
  }

  private paths(n: number): { conf: string; pid: string; vrrpPid: string; checkersPid: string } {
    const base = join(this.dir, `node${n}`);
    return {
      conf: `${base}.conf`,
      pid: `${base}.pid`,
      vrrpPid: `${base}-vrrp.pid`,
      checkersPid: `${base}-checkers.pid`,
    };
  }

  launch(n: number): void {
    const p = this.paths(n);
    for (const f of [p.pid, p.vrrpPid, p.checkersPid]) rmSync(f, { force: true });
    writeFileSync(p.conf, this.config(n));
    const child = this.lab.spawnIn(this.lab.node(n).ns, "keepalived", [
      "--dont-fork",
      ...(this.quiet ? [] : ["--log-console", "--log-detail"]),
      "--vrrp",
      "--use-file",
      p.conf,
      "--pid",
      p.pid,
      "--vrrp_pid",
      p.vrrpPid,
      "--checkers_pid",
      p.checkersPid,
    ]);
    this.children.set(n, child);
    const chunks: string[] = [];
    this.logs.set(n, chunks);
    const append = (chunk: Buffer): void => {
      const text = chunk.toString();
      const entered = text.match(/Entering MASTER STATE/g)?.length ?? 0;
      if (entered > 0) this.masterCounts.set(n, (this.masterCounts.get(n) ?? 0) + entered);
      chunks.push(text);
      if (chunks.length > 1000) chunks.splice(0, 500);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
  }

  /** The VRRP child's pid: the process that holds the addresses and sends the adverts. */
  vrrpPid(n: number): number | undefined {
    const file = this.paths(n).vrrpPid;
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, "utf8").trim());
    return pid > 0 ? pid : undefined;
  }

  /** The node's keepalived processes (parent and VRRP child) that are running. */
  pids(n: number): number[] {
    return [this.children.get(n)?.pid, this.vrrpPid(n)].filter(
      (pid): pid is number => pid !== undefined && alive(pid),
    );
  }

  /** SIGKILL of the VRRP child and its parent: nothing is resigned, the backups must time the master out. */
  crash(n: number): void {
    // The VRRP child first: killed first, the parent makes the child (PR_SET_PDEATHSIG) stop gracefully
    // and send a priority-0 advert, which is not a crash. Back to back, so the parent cannot respawn it.
    const child = this.vrrpPid(n);
    if (child) process.kill(child, "SIGKILL");
    this.children.get(n)?.kill("SIGKILL");
  }

  /** `keepalived stop`: the master resigns with a priority-0 advert. */
  terminate(n: number): void {
    this.children.get(n)?.kill("SIGTERM");
  }

  /** Rewrites the node's config and makes keepalived reload it (SIGHUP), as `systemctl reload` does. */
  reload(n: number, config: string): void {
    writeFileSync(this.paths(n).conf, config);
    this.children.get(n)?.kill("SIGHUP");
  }

  /** Waits for the node's processes to be gone, then starts it again. */
  async restart(n: number): Promise<void> {
    await waitExit(this.children.get(n), 5000);
    for (let i = 0; i < 100; i++) {
      const child = this.vrrpPid(n);
      if (!child || !alive(child)) break;
      await sleep(20);
    }
    this.launch(n);
  }

  async stop(): Promise<void> {
    for (const [, child] of this.children) child.kill("SIGTERM");
    for (const [, child] of this.children) await waitExit(child, 10_000);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** How often node n became MASTER (counted only while its console log is read: not with `quiet`). */
  masterEntries(n: number): number {
    return this.masterCounts.get(n) ?? 0;
  }

  log(n: number): string {
    return (this.logs.get(n) ?? []).join("");
  }
}

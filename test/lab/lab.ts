// Network-namespace lab: a "switch" namespace holding a bridge, N node namespaces and one client namespace,
// each joined to the bridge by a veth pair with a fixed MAC. Used by the lab tests, `npm run lab` and
// bench/. It never touches the root namespace: every command runs with `ip -n <ns>` or `ip netns exec`.
//
// Names are unique per run (prefix from pid + counter) and everything is torn down on any exit: destroy()
// in tests, plus process 'exit' and signal handlers that kill what was started inside and delete the
// namespaces even when a test crashes.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface LabInterface {
  /** Name inside the member namespace. */
  readonly name: string;
  readonly mac: string;
  /** With prefix, e.g. `198.51.100.1/24`; absent = no address. */
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** Link-local address (added with nodad so it is usable at once). */
  readonly linkLocal: string;
}

export interface LabMember {
  readonly ns: string;
  /** `node1`, `node2`, ..., `client`. */
  readonly role: string;
  readonly interfaces: readonly LabInterface[];
  /** The first interface (`eth0`). */
  readonly eth0: LabInterface;
}

export interface ExtraInterface {
  /** 1-based node number. */
  readonly node: number;
  readonly name: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface LabOptions {
  readonly nodes: number;
  readonly extraInterfaces?: readonly ExtraInterface[];
}

const liveLabs = new Set<Lab>();
let handlersInstalled = false;
let counter = 0;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
    });
  }
}

export const DIST_ROOT = join(__dirname, "..", "..");

export class Lab {
  readonly prefix: string;
  readonly switchNs: string;
  readonly nodes: LabMember[] = [];
  client!: LabMember;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor() {
    this.prefix = `vl${process.pid.toString(36)}${(counter++).toString(36)}`;
    this.switchNs = `${this.prefix}-sw`;
  }

  static async create(options: LabOptions): Promise<Lab> {
    const lab = new Lab();
    installExitHandlers();
    liveLabs.add(lab);
    try {
      await lab.build(options);
    } catch (error) {
      lab.destroySync();
      throw error;
    }
    return lab;
  }

  node(n: number): LabMember {
    const member = this.nodes[n - 1];
    if (!member) throw new Error(`lab has no node ${n}`);
    return member;
  }

  /** `ip -n <ns> <args...>`; returns stdout. */
  async ip(ns: string, ...args: string[]): Promise<string> {
    // 64 MiB: `ip -j addr` of a node holding thousands of VIPs is far over execFile's 1 MiB default.
    const { stdout } = await execFileAsync("ip", ["-n", ns, ...args], { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }

  /** Several `ip` commands in one process (`ip -n ns -batch -`). */
  async ipBatch(ns: string, commands: readonly string[]): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = execFile("ip", ["-n", ns, "-batch", "-"], (error, _stdout, stderr) =>
        error
          ? reject(new Error(`ip -n ${ns} -batch failed: ${stderr || error.message}\n${commands.join("\n")}`))
          : resolve(),
      );
      child.stdin?.end(commands.join("\n") + "\n");
    });
  }

  /** Starts a process inside `ns`; it is killed on teardown. */
  spawnIn(ns: string, command: string, args: readonly string[]): ChildProcess {
    if (this.destroyed) throw new Error("lab is destroyed");
    const child = spawn("ip", ["netns", "exec", ns, command, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return child;
  }

  /** Starts a compiled script of this repo (path relative to dist/) inside `ns` with the current Node. */
  spawnScript(ns: string, script: string, args: readonly string[] = []): ChildProcess {
    return this.spawnIn(ns, process.execPath, [join(DIST_ROOT, script), ...args]);
  }

  /** The client's neighbour entry for `ip` (`ip -j neigh`), or undefined when there is none. */
  async neighbour(
    ip: string,
    member: LabMember = this.client,
  ): Promise<{ mac: string; state: string[] } | undefined> {
    const out = await this.ip(member.ns, "-j", "neigh", "show", "to", ip, "dev", member.eth0.name);
    const entries = JSON.parse(out || "[]") as Array<{ lladdr?: string; state?: string[] }>;
    const entry = entries[0];
    if (!entry) return undefined;
    return { mac: entry.lladdr ?? "", state: entry.state ?? [] };
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }

  /** Synchronous so it also works from the process 'exit' handler. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const child of this.children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const ns of this.namespaces) {
      try {
        // Anything still running inside (grandchildren included) goes before the namespace does.
        const pids = execFileSync("ip", ["netns", "pids", ns], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "ignore"],
        });
        for (const pid of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch {
            // exited meanwhile
          }
        }
      } catch {
        // namespace already gone
      }
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  }

  private async addNamespace(ns: string): Promise<void> {
    try {
      await execFileAsync("ip", ["netns", "add", ns]);
    } catch (error) {
      const detail = (error as { stderr?: string }).stderr?.trim() || String(error);
      throw new Error(
        `lab: cannot create network namespace ${ns} (the lab needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN): ${detail}`,
        { cause: error },
      );
    }
    this.namespaces.push(ns);
  }

  private async build(options: LabOptions): Promise<void> {
    await this.addNamespace(this.switchNs);
    await this.ipBatch(this.switchNs, [
      "link set lo up",
      // forward_delay 0 + no STP: ports forward at once; no multicast snooping so ff02::1 always floods.
      "link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
      "link set br0 up",
    ]);
    const members: Array<{ role: string; ns: string; interfaces: LabInterface[] }> = [];
    for (let n = 1; n <= options.nodes; n++) {
      const interfaces: LabInterface[] = [
        {
          name: "eth0",
          mac: `02:00:00:00:01:${hex(n)}`,
          ipv4: `198.51.100.${n}/24`,
          ipv6: `2001:db8:100::${n.toString(16)}/64`,
          linkLocal: `fe80::1:${n.toString(16)}`,
        },
      ];
      for (const [i, extra] of (options.extraInterfaces ?? []).filter((e) => e.node === n).entries()) {
        interfaces.push({
          name: extra.name,
          mac: `02:00:00:00:${hex(0x10 + i + 1)}:${hex(n)}`,
          ipv4: extra.ipv4,
          ipv6: extra.ipv6,
          linkLocal: `fe80::${(0x10 + i + 1).toString(16)}:${n.toString(16)}`,
        });
      }
      members.push({ role: `node${n}`, ns: `${this.prefix}-n${n}`, interfaces });
    }
    members.push({
      role: "client",
      ns: `${this.prefix}-c`,
      interfaces: [
        {
          name: "eth0",
          mac: "02:00:00:00:02:00",
          ipv4: "198.51.100.200/24",
          ipv6: "2001:db8:100::200/64",
          linkLocal: "fe80::2:0",
        },
      ],
    });

    await Promise.all(members.map((m) => this.addNamespace(m.ns)));
    const switchCommands: string[] = [];
    for (const m of members) {
      for (const itf of m.interfaces) {
        const port = `p${m.role === "client" ? "c" : m.role.slice(4)}${itf.name === "eth0" ? "" : itf.name}`;
        switchCommands.push(
          `link add ${port} type veth peer name ${itf.name} address ${itf.mac} netns ${m.ns}`,
          `link set ${port} addrgenmode none`,
          `link set ${port} master br0 up`,
        );
      }
    }
    await this.ipBatch(this.switchNs, switchCommands);
    await Promise.all(
      members.map((m) =>
        this.ipBatch(m.ns, [
          "link set lo up",
          ...m.interfaces.flatMap((itf) => [
            // No automatic link-local: a fixed one with nodad is usable at once, with no DAD delay.
            `link set ${itf.name} addrgenmode none`,
            `addr add ${itf.linkLocal}/64 dev ${itf.name} nodad`,
            ...(itf.ipv4 ? [`addr add ${itf.ipv4} dev ${itf.name}`] : []),
            ...(itf.ipv6 ? [`addr add ${itf.ipv6} dev ${itf.name} nodad`] : []),
            `link set ${itf.name} up`,
          ]),
        ]),
      ),
    );
    for (const m of members) {
      const member: LabMember = { ns: m.ns, role: m.role, interfaces: m.interfaces, eth0: m.interfaces[0] };
      if (m.role === "client") this.client = member;
      else this.nodes.push(member);
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Address part of `198.51.100.1/24`. */
export function hostOf(cidr: string | undefined): string {
  if (!cidr) throw new Error("interface has no address");
  return cidr.split("/")[0];
}

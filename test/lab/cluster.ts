// A vipd cluster in the lab: one real daemon per node namespace, each with its own settings, manifests and
// key, gossiping over the lab bridge. Shared by the daemon lab tests, `npm run lab` and bench/.
import { execFile, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { generateKey } from "../../lib/gossip/keyring";
import type { DaemonStatus } from "../../lib/daemon/status-types";
import { DIST_ROOT, hostOf, type Lab, type LabMember } from "./lab";
import { waitUntil } from "../wait";

const execFileAsync = promisify(execFile);
const VIPD = join(DIST_ROOT, "daemon", "vipd.js");
export const GOSSIP_PORT = 7946;
export const METRICS = "127.0.0.1:7472";

/** The example manifests of docs/examples/pools.yaml, moved to lab addresses, plus an IPv6 service. */
export const LAB_MANIFESTS = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default-pool}
spec:
  addresses: [198.51.100.50-198.51.100.60, 2001:db8:100::50-2001:db8:100::60]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dns-pool}
spec: {addresses: [198.51.100.6/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: default}
spec: {ipAddressPools: [default-pool, dns-pool]}
---
apiVersion: v1
kind: Service
metadata:
  name: dns-tcp
  annotations: {metallb.io/loadBalancerIPs: 198.51.100.6, metallb.io/allow-shared-ip: dns-svc}
spec: {type: LoadBalancer, ports: [{port: 53, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata:
  name: dns-udp
  annotations: {metallb.io/loadBalancerIPs: 198.51.100.6, metallb.io/allow-shared-ip: dns-svc}
spec: {type: LoadBalancer, ports: [{port: 53, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: traefik, namespace: kube-system}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}, {port: 443, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: web6}
spec: {type: LoadBalancer, ipFamilies: [IPv6], ports: [{port: 80, protocol: TCP}]}
`;

export interface ClusterNode {
  readonly n: number;
  readonly name: string;
  readonly member: LabMember;
  readonly dir: string;
  readonly manifestPath: string;
  process: ChildProcess | undefined;
  log: string;
  /** How often each log event appeared, over the whole run (the log text itself keeps only its tail). */
  readonly events: Map<string, number>;
  /**
   * Every membership log line (memberJoin, memberSuspect, memberDead, ...) and `takeover` line of the run,
   * whole, the last FAILOVER_LINES_KEPT: benches time failure detection and the decision by them, and a
   * 10,000-VIP takeover logs megabytes after them, more than `log` keeps.
   */
  readonly failoverLines: string[];
}

const FAILOVER_LINES_KEPT = 1000;

/**
 * The command line that starts a node's daemon, given the `vipd run ...` arguments. Called right before
 * each launch, so it may also prepare the node's folder (owner, modes). Default: this Node and dist/.
 */
export type Launcher = (node: ClusterNode, vipdArgs: readonly string[]) => readonly string[];

/** The node flags scripts/install.sh puts in the installed `vipd` wrapper, so the lab runs what ships. */
export const VIPD_NODE_FLAGS = ["--max-semi-space-size=4", "--single-threaded-gc", "--v8-pool-size=1"];
/** The environment the installed wrapper exports (scripts/install.sh says why). */
export const VIPD_NODE_ENV = ["MALLOC_ARENA_MAX=2"];
/**
 * Extra node flags for the lab's daemons, for profiling a lab or bench run (e.g.
 * VIPD_LAB_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof"; Node refuses --cpu-prof in NODE_OPTIONS).
 */
const EXTRA_NODE_FLAGS = (process.env.VIPD_LAB_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "");
/** The lab's daemons' log level, for tracing a lab or bench run (e.g. VIPD_LAB_LOG_LEVEL=debug). */
const LOG_LEVEL_ARGS = process.env.VIPD_LAB_LOG_LEVEL ? ["--log-level", process.env.VIPD_LAB_LOG_LEVEL] : [];
const defaultLauncher: Launcher = (_node, vipdArgs) => [
  "env",
  ...VIPD_NODE_ENV,
  process.execPath,
  ...VIPD_NODE_FLAGS,
  ...EXTRA_NODE_FLAGS,
  VIPD,
  ...vipdArgs,
];

export interface ClusterOptions {
  /** Extra `cluster:` settings for every node, e.g. `{ quorum: "majority", failback: false }`. */
  readonly cluster?: Readonly<Record<string, string | number | boolean>>;
  readonly launcher?: Launcher;
  /** How long start() waits for each daemon to be ready (default 15 s; big manifests need more). */
  readonly readyTimeoutMs?: number;
  /** Nodes (1-based) start() does not wait for: ones expected never to be ready. */
  readonly noReadyWait?: readonly number[];
}

export class VipdCluster {
  readonly nodes: ClusterNode[] = [];
  /** Holds each node's folder; private to root (0700) unless a launcher opens it. */
  readonly root: string;
  private readonly launcher: Launcher;

  private constructor(
    readonly lab: Lab,
    manifests: string,
    options: ClusterOptions,
  ) {
    this.launcher = options.launcher ?? defaultLauncher;
    this.root = mkdtempSync(join(tmpdir(), `vipd-${lab.prefix}-`));
    const key = generateKey();
    for (const member of lab.nodes) {
      const n = this.nodes.length + 1;
      const dir = join(this.root, member.role);
      mkdirSync(dir, { recursive: true });
      const peers = lab.nodes.filter((m) => m !== member).map((m) => `${hostOf(m.eth0.ipv4)}:${GOSSIP_PORT}`);
      writeFileSync(join(dir, "gossip.key"), key + "\n");
      writeFileSync(join(dir, "pools.yaml"), manifests);
      writeFileSync(
        join(dir, "vipd.yaml"),
        [
          `nodeName: ${member.role}`,
          `manifests: [pools.yaml]`,
          `stateDir: state`,
          `cluster:`,
          `  bind: ${hostOf(member.eth0.ipv4)}:${GOSSIP_PORT}`,
          `  join: [${peers.join(", ")}]`,
          `  keyFile: gossip.key`,
          ...Object.entries(options.cluster ?? {}).map(([k, v]) => `  ${k}: ${String(v)}`),
          `metrics:`,
          `  listen: ${METRICS}`,
          "",
        ].join("\n"),
      );
      this.nodes.push({
        n,
        name: member.role,
        member,
        dir,
        manifestPath: join(dir, "pools.yaml"),
        process: undefined,
        log: "",
        events: new Map(),
        failoverLines: [],
      });
    }
  }

  static async start(
    lab: Lab,
    manifests = LAB_MANIFESTS,
    options: ClusterOptions = {},
  ): Promise<VipdCluster> {
    const cluster = new VipdCluster(lab, manifests, options);
    for (const node of cluster.nodes) cluster.launch(node);
    await Promise.all(
      cluster.nodes
        .filter((node) => !(options.noReadyWait ?? []).includes(node.n))
        .map((node) => cluster.waitReady(node, options.readyTimeoutMs)),
    );
    return cluster;
  }

  node(n: number): ClusterNode {
    const node = this.nodes[n - 1];
    if (!node) throw new Error(`cluster has no node ${n}`);
    return node;
  }

  launch(node: ClusterNode): void {
    const [command, ...args] = this.launcher(node, [
      "run",
      "--config",
      join(node.dir, "vipd.yaml"),
      ...LOG_LEVEL_ARGS,
    ]);
    if (!command) throw new Error("launcher returned an empty command");
    const child = this.lab.spawnIn(node.member.ns, command, args);
    node.process = child;
    // One per stream: a chunk may end mid-line, and stdout's and stderr's chunks interleave.
    const appender = (): ((chunk: Buffer) => void) => {
      let partial = "";
      return (chunk: Buffer): void => {
        const text = chunk.toString();
        for (const m of text.matchAll(/"event":"([A-Za-z]+)"/g))
          node.events.set(m[1], (node.events.get(m[1]) ?? 0) + 1);
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines)
          if (line.includes('"event":"member') || line.includes('"event":"takeover"'))
            node.failoverLines.push(line);
        if (node.failoverLines.length > FAILOVER_LINES_KEPT)
          node.failoverLines.splice(0, node.failoverLines.length - FAILOVER_LINES_KEPT);
        node.log += text;
        if (process.env.VIPD_LAB_LOGS)
          appendFileSync(join(process.env.VIPD_LAB_LOGS, `${node.name}.log`), chunk);
        // The tail is cut at a line's start: a half line that still names an event broke JSON readers.
        if (node.log.length > 2_000_000)
          node.log = node.log.slice(node.log.indexOf("\n", node.log.length - 1_000_000) + 1);
      };
    };
    child.stdout?.on("data", appender());
    child.stderr?.on("data", appender());
    child.on("exit", () => {
      if (node.process === child) node.process = undefined;
    });
  }

  /**
   * Until node's /readyz answers 200. One poller inside the node's namespace for the whole wait: polling
   * `vipd status --json` every 100 ms spawned a node process per poll and made the daemon build its whole
   * status each time (MBs at 10,000 VIPs): a 10,000-VIP start-up spent ~30 % of each daemon's main thread
   * answering it, and the host's 2 cores shared with the spawns (perf of a starting node).
   */
  async waitReady(node: ClusterNode, timeoutMs = 15_000): Promise<void> {
    const daemon = node.process;
    if (!daemon) throw new Error(`${node.name} exited before it was ready:\n${node.log.slice(-3000)}`);
    const poll = `const end = Date.now() + ${timeoutMs};
(async () => {
  for (;;) {
    const ok = await fetch("http://${METRICS}/readyz").then((r) => r.status === 200, () => false);
    if (ok) return;
    if (Date.now() > end) process.exit(2);
    await new Promise((r) => setTimeout(r, 50));
  }
})();`;
    const abort = new AbortController();
    let onExit = (): void => undefined;
    const exited = new Promise<never>((_, reject) => {
      onExit = () => reject(new Error(`${node.name} exited before it was ready:\n${node.log.slice(-3000)}`));
      daemon.once("exit", onExit);
    });
    const poller = execFileAsync("ip", ["netns", "exec", node.member.ns, process.execPath, "-e", poll], {
      signal: abort.signal,
      timeout: timeoutMs + 10_000,
    }).catch(() => {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${node.name} to be ready:\n${node.log.slice(-3000)}`,
      );
    });
    try {
      await Promise.race([poller, exited]);
    } finally {
      daemon.off("exit", onExit);
      abort.abort();
      exited.catch(() => undefined);
      poller.catch(() => undefined);
    }
  }

  /** `vipd status` as an operator sees it on node n (text; extra flags such as `--ip X`). */
  async statusText(n: number, ...flags: string[]): Promise<string> {
    const { stdout } = await execFileAsync("ip", [
      "netns",
      "exec",
      this.node(n).member.ns,
      process.execPath,
      VIPD,
      "status",
      "--address",
      `http://${METRICS}`,
      ...flags,
    ]);
    return stdout;
  }

  /** `/status` of node n, fetched from inside its namespace. */
  async status(n: number): Promise<DaemonStatus> {
    const out = await this.nodeRun(n, [VIPD, "status", "--json", "--address", `http://${METRICS}`]);
    return JSON.parse(out) as DaemonStatus;
  }

  async metrics(n: number): Promise<string> {
    return this.nodeRun(n, [
      "-e",
      `fetch("http://${METRICS}/metrics").then(r => r.text()).then(t => process.stdout.write(t))`,
    ]);
  }

  /** Node with `args` inside node n's namespace; its output (10,000 services make MBs of status). */
  private async nodeRun(n: number, args: readonly string[]): Promise<string> {
    const { stdout } = await execFileAsync(
      "ip",
      ["netns", "exec", this.node(n).member.ns, process.execPath, ...args],
      { maxBuffer: 256 << 20 },
    );
    return stdout;
  }

  /** Nodes whose kernel holds `ip` right now (checked with `ip addr` in each namespace). */
  async holders(ip: string): Promise<string[]> {
    const out: string[] = [];
    for (const node of this.nodes) {
      const text = await this.lab.ip(node.member.ns, "-j", "addr", "show");
      const links = JSON.parse(text) as Array<{ addr_info?: Array<{ local?: string }> }>;
      if (links.some((l) => (l.addr_info ?? []).some((a) => a.local === ip))) out.push(node.name);
    }
    return out;
  }

  /** Waits until exactly one node's kernel holds `ip`; returns that node's name. */
  async singleHolder(ip: string, timeoutMs: number): Promise<string> {
    let holder = "";
    await this.until(
      `exactly one holder of ${ip}`,
      async () => {
        const holders = await this.holders(ip);
        holder = holders[0] ?? "";
        return holders.length === 1;
      },
      timeoutMs,
    );
    return holder;
  }

  /** Polls until `predicate` holds; returns the elapsed ms, or throws with `what` after the timeout. */
  async until(
    what: string,
    predicate: () => Promise<boolean>,
    timeoutMs: number,
    stepMs = 10,
  ): Promise<number> {
    return waitUntil(what, predicate, timeoutMs, { stepMs, detail: () => this.recentLogs() });
  }

  /**
   * The last lines each daemon printed: a timed-out wait in CI shows what the daemons were doing, since
   * CI keeps only the test output.
   */
  recentLogs(linesPerNode = 15): string {
    return this.nodes
      .map((node) => {
        const lines = node.log.trimEnd().split("\n").slice(-linesPerNode);
        return `--- ${node.name} (last ${lines.length} lines)\n${lines.map((l) => l.slice(0, 400)).join("\n")}`;
      })
      .join("\n");
  }

  signal(n: number, signal: NodeJS.Signals): void {
    this.node(n).process?.kill(signal);
  }

  async stopNode(n: number, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const node = this.node(n);
    const child = node.process;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      // `ip netns exec` forwards nothing: signal the daemon itself, the child of ip.
      void this.daemonPid(node).then((pid) => {
        if (pid) process.kill(pid, signal);
        else child.kill(signal);
      });
    });
  }

  /** The vipd process inside the node's namespace (ip netns exec execs, so usually the same pid). */
  async daemonPid(node: ClusterNode): Promise<number | undefined> {
    const { stdout } = await execFileAsync("ip", ["netns", "pids", node.member.ns]).catch(() => ({
      stdout: "",
    }));
    const pids = stdout.split(/\s+/).filter(Boolean).map(Number);
    return pids.find((pid) => pid === node.process?.pid) ?? pids[0];
  }

  /**
   * Stops every node (SIGKILL by default: fast, but a killed owner's marked addresses stay in its namespace
   * and its kernel keeps answering ARP for them until a vipd starts there again) and removes the files.
   */
  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n.n, signal)));
    rmSync(this.root, { recursive: true, force: true });
  }
}

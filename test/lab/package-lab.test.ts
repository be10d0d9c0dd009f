// The Debian package under a real systemd: `npm run package` builds the .deb twice (a newer version for the
// upgrade), a bookworm container boots systemd as its PID 1 in lab node 1's network namespace, and a plain vipd
// in node 2's namespace on the same bridge is the peer the VIPs are handed to. Each step follows the README:
// install, configure, enable --now, reload, a bad edit, the watchdog, stop, an upgrade with dpkg -i, purge.
// It needs root and the Debian mirror (the rootfs is cached in /var/cache/vipd-test after the first run).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { DIST_ROOT, Lab } from "./lab";
import { sleep } from "./lab-helpers";
import { ensureTools, openTempDir, REPO_ROOT } from "../systemd/helpers";
import { cachedRootfs, Container, ensureNspawnTools } from "../systemd/nspawn";

// Unique per run: two runs on one machine boot two containers (the cached rootfs is shared read-only).
const CT_NAME = `vipdct${process.pid.toString(36)}`;
const PEER_NAME = "node2";
const CT_ADDRESS = "198.51.100.1";
const PEER_ADDRESS = "198.51.100.2";
const WEB_IP = "198.51.100.50";
const DNS_IP = "198.51.100.6";
const VIPS = [WEB_IP, DNS_IP];
const NEW_SUFFIX = "+lab2";
const MAX_EXPOSURE = 2.5;
const execFileAsync = promisify(execFile);

/** The lab's manifests. The container's node is preferred, so every VIP is its own while it runs. */
const MANIFESTS = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lab-pool}
spec: {addresses: [198.51.100.50-198.51.100.59]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dns-pool}
spec: {addresses: [198.51.100.6/32], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lab}
spec:
  ipAddressPools: [lab-pool, dns-pool]
  preferredNodeSelectors:
    - weight: 100
      preference: {matchLabels: {kubernetes.io/hostname: ${CT_NAME}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, ports: [{port: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata:
  name: dns
  annotations: {metallb.io/loadBalancerIPs: ${DNS_IP}}
spec: {type: LoadBalancer, ports: [{port: 53, protocol: UDP}]}
`;

/** /etc/vipd/vipd.yaml in the container, as the README has the operator edit it. */
const CT_SETTINGS = `# edited by the lab operator
nodeName: ${CT_NAME}
manifests: [pools.yaml]
cluster:
  bind: ${CT_ADDRESS}:7946
  join: [${PEER_ADDRESS}:7946]
  keyFile: gossip.key
`;

const timings: Array<[string, number]> = [];
/** Runs one step and records how long it took (printed at the end: the issue asks for each step's time). */
async function timed<T>(step: string, body: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await body();
  } finally {
    timings.push([step, performance.now() - start]);
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(100);
  }
}

describe("the .deb under a real systemd (nspawn), with a second vipd on the bridge", () => {
  const started = performance.now();
  let scratch: string;
  let lab: Lab;
  let container: Container | undefined;
  let peer: ChildProcess | undefined;
  let peerLog = "";
  let debs: { first: string; newer: string };
  let gossipKey = "";
  let lintian: Promise<string> | undefined;

  const ct = (command: readonly string[], timeoutMs?: number): Promise<string> =>
    container!.run(command, timeoutMs);
  const sh = (script: string): Promise<string> => ct(["sh", "-ec", script]);
  const show = async (property: string): Promise<string> =>
    (await ct(["systemctl", "show", "--value", `--property=${property}`, "vipd.service"])).trim();
  /**
   * The running daemon's PID, once the unit is active with one. A signal must never go to "0": `kill -STOP 0`
   * stops the caller's whole process group (nsenter keeps it), which froze a test run.
   */
  const runningPid = async (): Promise<string> => {
    let pid = "0";
    await waitFor(
      "vipd.service active with a main PID",
      async () => (pid = await show("MainPID")) !== "0" && (await show("ActiveState")) === "active",
      60_000,
    );
    assert.match(pid, /^[1-9][0-9]*$/, `MainPID ${pid}`);
    return pid;
  };
  /** VIPs on eth0 of a lab node's namespace (the container's is node 1's). */
  const vipsOn = async (n: number): Promise<string[]> => {
    const out = await lab.ip(lab.node(n).ns, "-j", "addr", "show", "dev", "eth0");
    const entries = JSON.parse(out) as Array<{ addr_info: Array<{ local: string }> }>;
    return entries.flatMap((e) => e.addr_info.map((a) => a.local)).filter((ip) => VIPS.includes(ip));
  };
  const heldBy = async (n: number): Promise<boolean> => (await vipsOn(n)).length === VIPS.length;
  const journal = async (...args: string[]): Promise<string> =>
    ct(["journalctl", "--no-pager", "-u", "vipd.service", ...args]);

  before(async () => {
    ensureNspawnTools();
    ensureTools({ "dpkg-deb": "dpkg", strip: "binutils", lintian: "lintian" });
    scratch = openTempDir("vipd-package-lab-");
    await timed("build the two packages (npm run package)", async () => {
      const build = (suffix: string, out: string): string =>
        execFileSync("sh", [join(REPO_ROOT, "scripts/package.sh")], {
          // Uncompressed: gzip of the ~100 MB tree is what takes minutes on a loaded machine; dpkg reads both.
          env: {
            ...process.env,
            VIPD_NO_BUILD: "1",
            VIPD_VERSION_SUFFIX: suffix,
            OUT_DIR: out,
            DEB_COMPRESSION: "none",
          },
          encoding: "utf8",
        }).trim();
      const debDir = join(scratch, "debs");
      debs = { first: build("", debDir), newer: build(NEW_SUFFIX, debDir) };
    });
    // lintian reads the whole ~100 MB tree for minutes: it runs while the container steps do.
    const lintianStart = performance.now();
    lintian = execFileAsync("lintian", ["--no-cfg", "--fail-on", "none", debs.first], {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    }).then(({ stdout, stderr }) => {
      timings.push(["lintian (alongside the steps below)", performance.now() - lintianStart]);
      return stdout + stderr;
    });
    lintian.catch(() => {}); // awaited (and reported) by its test
    const rootfs = await timed("rootfs (cached, else mmdebstrap)", async () => cachedRootfs());
    lab = await Lab.create({ nodes: 2 });
    container = await timed("boot systemd in nspawn", () =>
      Container.boot({
        rootfs,
        name: CT_NAME,
        netns: lab.node(1).ns,
        bindReadOnly: { [join(scratch, "debs")]: "/mnt/debs" },
      }),
    );
  });

  after(async () => {
    peer?.kill("SIGKILL");
    await container?.powerOff();
    await lab?.destroy();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    const total = performance.now() - started;
    const lines = timings.map(([step, ms]) => `  ${(ms / 1000).toFixed(1).padStart(6)} s  ${step}`);
    process.stdout.write(`# package lab: ${(total / 1000).toFixed(1)} s in all\n${lines.join("\n")}\n`);
  });

  test("install: the vipd user, /etc/vipd for group vipd, and nothing started", async () => {
    await timed("apt install ./vipd.deb", async () => {
      await ct(
        ["apt-get", "install", "-y", "--no-install-recommends", `/mnt/debs/${basename(debs.first)}`],
        180_000,
      );
    });
    assert.match(await ct(["getent", "passwd", "vipd"]), /^vipd:x:\d+:\d+:.*:\/var\/lib\/vipd:/);
    assert.equal(
      (
        await ct(["stat", "-c", "%U:%G %a %n", "/etc/vipd", "/etc/vipd/vipd.yaml", "/etc/vipd/pools.yaml"])
      ).trim(),
      [
        "root:vipd 750 /etc/vipd",
        "root:vipd 640 /etc/vipd/vipd.yaml",
        "root:vipd 640 /etc/vipd/pools.yaml",
      ].join("\n"),
    );
    assert.equal(await show("ActiveState"), "inactive", "an unconfigured daemon is not started");
    assert.equal(await show("UnitFileState"), "disabled");
    assert.deepEqual(await vipsOn(1), []);
    assert.match(
      await ct(["vipd", "validate", "--config", "/etc/vipd/vipd.yaml"]),
      /no IPAddressPool defined/,
    );
  });

  test("systemd-analyze security in the container: exposure at most 2.5", async () => {
    const result = await container!.exec(["systemd-analyze", "security", "--no-pager", "vipd.service"]);
    const match = /Overall exposure level for vipd\.service: (\d+(?:\.\d+)?)/.exec(result.stdout);
    assert.ok(match, result.stdout + result.stderr);
    const exposure = Number(match[1]);
    timings.push([`(exposure measured in the container: ${exposure})`, 0]);
    assert.ok(exposure <= MAX_EXPOSURE, `exposure ${exposure}:\n${result.stdout}`);
  });

  test("configured as the README says, systemctl enable --now: active, STATUS=, VIPs added, fields in the journal", async () => {
    await timed("configure + enable --now until both VIPs are up", async () => {
      await sh("vipd keygen > /etc/vipd/gossip.key");
      await sh("chgrp vipd /etc/vipd/gossip.key && chmod 0640 /etc/vipd/gossip.key");
      gossipKey = (await ct(["cat", "/etc/vipd/gossip.key"])).trim();
      await writeInContainer("/etc/vipd/vipd.yaml", CT_SETTINGS);
      await writeInContainer("/etc/vipd/pools.yaml", MANIFESTS);
      startPeer();
      await ct(["systemctl", "enable", "--now", "vipd.service"], 60_000);
      await waitFor("both VIPs on the container's eth0", () => heldBy(1), 30_000);
    });
    assert.equal(await show("ActiveState"), "active");
    await waitFor(
      "STATUS= with both members",
      async () => /owning 2 of 2 VIPs, 2\/2 members alive/.test(await show("StatusText")),
      15_000,
    );
    assert.deepEqual(await vipsOn(2), [], "the peer holds nothing");
    const entries = (await journal("-o", "json", "--output-fields=EVENT,IP,SERVICE,PRIORITY"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, string>);
    assert.ok(
      entries.some((e) => e.EVENT === "addressAdded" && e.IP === WEB_IP && e.PRIORITY === "6"),
      "addressAdded with IP= at info",
    );
    assert.ok(
      entries.some((e) => e.EVENT === "IPAllocated" && e.SERVICE === "default/web"),
      "IPAllocated with SERVICE=",
    );
  });

  test("systemctl reload keeps the PID; a bad edit shows in journalctl -p warning and keeps the VIPs", async () => {
    const pid = await show("MainPID");
    await timed("reload", () => ct(["systemctl", "reload", "vipd.service"]));
    assert.equal(await show("MainPID"), pid);
    assert.equal(await show("ActiveState"), "active");

    const goodConfigLoads = async (): Promise<number> =>
      (await journal("-o", "cat")).split("\n").filter((line) => line.startsWith("configLoaded:")).length;
    const loadsBefore = await goodConfigLoads();
    await timed("bad edit until journalctl -p warning shows it", async () => {
      await writeInContainer("/etc/vipd/pools.yaml", MANIFESTS + "---\nkind: IPAddressPool\nspec: [oops\n");
      await waitFor(
        "configInvalid in journalctl -p warning",
        async () => /configInvalid/.test(await journal("-p", "warning")),
        15_000,
      );
    });
    const warnings = await journal("-p", "warning", "-o", "json", "--output-fields=EVENT,PRIORITY");
    assert.ok(
      warnings.split("\n").some((l) => l.includes('"EVENT":"configInvalid"') && l.includes('"PRIORITY":"3"')),
      "configInvalid at priority err",
    );
    assert.ok(
      await heldBy(1),
      `the VIPs stay; the container holds ${await vipsOn(1)}:\n${await journalTail()}`,
    );
    assert.equal(await show("MainPID"), pid);
    await writeInContainer("/etc/vipd/pools.yaml", MANIFESTS);
    await waitFor("the repaired config loads", async () => (await goodConfigLoads()) > loadsBefore, 15_000);
  });

  test("the watchdog restarts a SIGSTOPped daemon", async () => {
    const pid = await runningPid();
    const restarts = Number(await show("NRestarts"));
    await timed("SIGSTOP until restarted and holding the VIPs again", async () => {
      await ct(["kill", "-STOP", pid]);
      await waitFor(
        "a new main PID",
        async () => {
          const now = await show("MainPID");
          return now !== pid && now !== "0" && (await show("ActiveState")) === "active";
        },
        60_000,
      );
      await waitFor("the VIPs back on the container", () => heldBy(1), 30_000);
    });
    assert.ok(Number(await show("NRestarts")) > restarts, "counted as a restart");
    assert.match(await journal(), /[Ww]atchdog timeout/);
  });

  test("systemctl stop hands the VIPs over to the peer", async () => {
    const from = peerLog.length;
    await timed("stop until the peer holds the VIPs", async () => {
      await ct(["systemctl", "stop", "vipd.service"]);
      await waitFor("the peer holds both VIPs", () => heldBy(2), 10_000);
    });
    assert.deepEqual(await vipsOn(1), [], "released by the stopped node");
    assert.match(peerLog.slice(from), /"event":"memberLeave"/, "a graceful leave, not a dead member");
    await timed("start until the VIPs are back", async () => {
      await ct(["systemctl", "start", "vipd.service"]);
      await waitFor(
        "VIPs back on the container",
        async () => (await heldBy(1)) && (await vipsOn(2)).length === 0,
        30_000,
      );
    });
  });

  test("a newer build installed with dpkg -i over the running one hands the VIPs over and back and keeps the conffiles", async () => {
    const pid = await show("MainPID");
    const from = peerLog.length;
    const before = await ct([
      "sha256sum",
      "/etc/vipd/vipd.yaml",
      "/etc/vipd/pools.yaml",
      "/etc/vipd/gossip.key",
    ]);
    await timed("dpkg -i newer build until the VIPs are back", async () => {
      await ct(["dpkg", "-i", `/mnt/debs/${basename(debs.newer)}`], 180_000);
      await waitFor(
        "VIPs back on the container",
        async () => (await heldBy(1)) && (await vipsOn(2)).length === 0,
        30_000,
      );
    });
    assert.match(await ct(["dpkg-query", "-W", "-f", "${Version}", "vipd"]), new RegExp(`\\${NEW_SUFFIX}$`));
    assert.notEqual(await show("MainPID"), pid, "the new build runs");
    assert.equal(await show("ActiveState"), "active");
    const peerSide = peerLog.slice(from);
    for (const ip of VIPS) {
      const added = peerSide.indexOf(`"event":"addressAdded","msg":"${ip} `);
      const removed = peerSide.indexOf(`"event":"addressRemoved","msg":"${ip} `);
      assert.ok(added >= 0 && removed > added, `the peer took ${ip} during the upgrade and gave it back`);
    }
    assert.match(peerSide, /"event":"memberLeave"/, "the old build left gracefully");
    assert.equal(
      await ct(["sha256sum", "/etc/vipd/vipd.yaml", "/etc/vipd/pools.yaml", "/etc/vipd/gossip.key"]),
      before,
      "edited conffiles and the key are kept",
    );
    assert.equal((await ct(["ls", "/etc/vipd"])).includes(".dpkg-"), false, "no .dpkg-new/.dpkg-dist left");
    assert.match(await ct(["cat", "/etc/vipd/vipd.yaml"]), /edited by the lab operator/);
  });

  test("lintian: no error and no warning beyond the explained overrides", async () => {
    const output = await lintian!;
    // The lab's packages are built uncompressed (DEB_COMPRESSION=none, for time); `npm run package` uses gzip.
    const uncompressed = /: uses-no-compression-for-(control|data)-tarball$/;
    const complaints = output.split("\n").filter((line) => /^[EW]: /.test(line) && !uncompressed.test(line));
    assert.deepEqual(complaints, [], output);
  });

  test("apt purge leaves none of the package's files", async () => {
    const owned = (await ct(["dpkg-query", "-L", "vipd"])).trim().split("\n");
    await timed("apt purge", async () => {
      await ct(["apt-get", "purge", "-y", "vipd"], 120_000);
      await waitFor("the peer holds both VIPs", () => heldBy(2), 10_000);
    });
    // Shared folders (/etc, /opt, /lib/systemd/system, ...) stay; everything only vipd had is gone.
    const mine = owned.filter((p) => /vipd/.test(p));
    assert.ok(
      mine.includes("/opt/vipd/bin/node") && mine.includes("/etc/vipd/vipd.yaml"),
      mine.slice(0, 20).join("\n"),
    );
    const left = await sh(
      `for p in ${[...mine, "/etc/vipd", "/var/lib/vipd", "/etc/systemd/system/multi-user.target.wants/vipd.service"].map(quote).join(" ")}; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p"; fi; done`,
    );
    assert.equal(left.trim(), "", `left behind:\n${left}`);
    assert.equal(
      (await container!.exec(["dpkg-query", "-W", "vipd"])).code,
      1,
      "not even config-files state",
    );
    assert.deepEqual(await vipsOn(1), []);
  });

  function startPeer(): void {
    const dir = join(scratch, PEER_NAME);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "gossip.key"), gossipKey + "\n");
    writeFileSync(join(dir, "pools.yaml"), MANIFESTS);
    writeFileSync(
      join(dir, "vipd.yaml"),
      [
        `nodeName: ${PEER_NAME}`,
        "manifests: [pools.yaml]",
        "stateDir: state",
        "cluster:",
        `  bind: ${PEER_ADDRESS}:7946`,
        `  join: [${CT_ADDRESS}:7946]`,
        "  keyFile: gossip.key",
        "",
      ].join("\n"),
    );
    peer = lab.spawnIn(lab.node(2).ns, process.execPath, [
      join(DIST_ROOT, "daemon", "vipd.js"),
      "run",
      "--config",
      join(dir, "vipd.yaml"),
    ]);
    const append = (chunk: Buffer): void => {
      peerLog += chunk.toString();
    };
    peer.stdout?.on("data", append);
    peer.stderr?.on("data", append);
  }

  /**
   * Writes a file in the container through `sh` (the rootfs is an overlay the host does not see), as an
   * editor that saves by rename does: the daemon watching it never reads a half-written (empty) file, which
   * would be a valid config that announces nothing. Owner and mode of an existing file are kept.
   */
  async function writeInContainer(path: string, text: string): Promise<void> {
    const encoded = Buffer.from(text).toString("base64");
    const target = quote(path);
    const temp = quote(`${path}.lab-tmp`);
    await sh(
      `echo ${encoded} | base64 -d > ${temp}; ` +
        `if [ -e ${target} ]; then chown --reference=${target} ${temp}; chmod --reference=${target} ${temp}; fi; ` +
        `mv -f ${temp} ${target}`,
    );
  }

  /** `until`, and on a timeout what both daemons logged last. */
  async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    try {
      await until(what, check, timeoutMs);
    } catch (error) {
      const held = `container holds [${await vipsOn(1)}], peer holds [${await vipsOn(2)}]`;
      throw new Error(
        `${(error as Error).message}; ${held}\n--- container journal:\n${await journalTail()}\n` +
          `--- peer log:\n${peerLog.slice(-3000)}`,
        { cause: error },
      );
    }
  }

  /** What the container's vipd logged last, for failure messages. */
  async function journalTail(): Promise<string> {
    return (await container!.exec(["journalctl", "--no-pager", "-u", "vipd.service", "-n", "40"])).stdout;
  }
});

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

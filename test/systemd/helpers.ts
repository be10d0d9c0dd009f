// Shared by the systemd tests: running scripts/install.sh into a temp DESTDIR, and making sure the tools
// the tests need are on the machine. A fresh CI machine has Node, npm, a compiler and iproute2 but maybe
// not systemd-analyze: it is installed with apt here (CI runs as root on Debian), never skipped.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const REPO_ROOT = join(__dirname, "..", "..", "..");
export const INSTALL_SCRIPT = join(REPO_ROOT, "scripts", "install.sh");

const onPath = (tool: string): boolean => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

/** Installs the Debian packages providing the missing `tools` (apt-get update first when needed). */
export function ensureTools(tools: Readonly<Record<string, string>>): void {
  const missing = Object.entries(tools).filter(
    ([tool]) => !(tool.startsWith("/") ? existsSync(tool) : onPath(tool)),
  );
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = (): ReturnType<typeof spawnSync> =>
    // Other runs on the machine may hold the dpkg lock: wait for it rather than fail.
    spawnSync(
      "apt-get",
      ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", ...packages],
      {
        env,
        encoding: "utf8",
      },
    );
  let result = install();
  if (result.status !== 0) {
    // Fresh images ship without package lists.
    spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update"], { env, encoding: "utf8" });
    result = install();
  }
  const still = missing.filter(([tool]) => !(tool.startsWith("/") ? existsSync(tool) : onPath(tool)));
  if (result.status !== 0 || still.length > 0) {
    throw new Error(
      `cannot install ${packages.join(" ")} for ${still.map(([t]) => t).join(", ")} (needs root and apt):\n` +
        `${String(result.stderr ?? "").slice(-2000)}`,
    );
  }
}

/** systemd-analyze, and /bin/kill which `systemd-analyze verify` checks because ExecReload names it. */
export function ensureSystemdAnalyze(): void {
  ensureTools({ "systemd-analyze": "systemd", "/bin/kill": "procps" });
}

/** A fresh temp dir that other users can traverse (the unprivileged daemon runs from it). */
export function openTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Runs scripts/install.sh into `destdir` with the already-built dist/; returns its output. */
export function installInto(destdir: string, ...args: string[]): string {
  return execFileSync("sh", [INSTALL_SCRIPT, ...args], {
    env: { ...process.env, DESTDIR: destdir, VIPD_NO_BUILD: "1" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

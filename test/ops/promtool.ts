// promtool, from Debian's `prometheus` package (installed here when missing, as CI starts without it): the
// reference checker for the metrics text, the alert rules and their unit tests.
import { spawnSync } from "node:child_process";
import { ensureTools } from "../systemd/helpers";

export interface ToolRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function ensurePromtool(): void {
  ensureTools({ promtool: "prometheus" });
}

export function promtool(args: readonly string[], input?: string): ToolRun {
  ensurePromtool();
  const r = spawnSync("promtool", args, { input, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

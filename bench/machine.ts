// The machine a result was measured on, as every result file records it (docs/benchmarks.md shows it).
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";

export interface Machine {
  cores: number;
  cpu: string;
  kernel: string;
  node: string;
}

export function machine(): Machine {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "",
    kernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
    node: process.version,
  };
}

// The persisted allocation (the next run's `previous`). Thin I/O edge: reading never throws, because a
// damaged state file must cost at most some address moves, never the daemon; writing is atomic, because
// a torn file after a power cut would cost exactly that.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { AllocationState } from "./types";

export function readAllocationState(path: string): { state?: AllocationState; warning?: string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    return { warning: fresh(path, `cannot be read (${(err as Error).message})`) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { warning: fresh(path, `is not valid JSON (${(err as Error).message})`) };
  }
  const problem = shapeProblem(parsed);
  if (problem !== undefined) return { warning: fresh(path, `has the wrong shape: ${problem}`) };
  return { state: parsed as AllocationState };
}

export function writeAllocationState(path: string, state: AllocationState): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = openSync(temp, "w", 0o644);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  syncDirectory(dir);
}

/** Makes the rename itself durable. Some filesystems refuse to fsync a directory; the data is safe anyway. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Best effort, see above.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function fresh(path: string, why: string): string {
  return `state file ${path} ${why}; starting from a fresh allocation`;
}

function shapeProblem(value: unknown): string | undefined {
  if (!isRecord(value)) return "not a JSON object";
  if (value.version !== 1) return `unsupported version ${JSON.stringify(value.version)}`;
  const assignments = value.assignments;
  if (!isRecord(assignments)) return `"assignments" is not an object`;
  for (const [service, entry] of Object.entries(assignments)) {
    if (!isRecord(entry)) return `assignment ${JSON.stringify(service)} is not an object`;
    if (typeof entry.pool !== "string") return `assignment ${JSON.stringify(service)} has no pool name`;
    if (!Array.isArray(entry.ips) || !entry.ips.every((ip) => typeof ip === "string")) {
      return `assignment ${JSON.stringify(service)} has no list of IPs`;
    }
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

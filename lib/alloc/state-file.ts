// The persisted allocation (the next run's `previous`). Thin I/O edge. A damaged file (unreadable, not
// JSON, wrong shape) is a warning and a fresh start: it must cost at most some address moves, never the
// daemon. A file of a format version this build does not know is different: it is intact, only newer (a
// downgrade) or foreign, and dropping it would renumber services, so it is refused with an error that says
// what to do. Writing is atomic, because a torn file after a power cut would cost exactly those moves.
//
// Versions: `version` changes only for an incompatible change of the format; an optional field may be added
// without a bump (older readers ignore unknown fields; 0.1.0's reader does). A release writes a version its
// predecessor reads (N-1 downgrade), and reads every older one through MIGRATIONS. See docs/design.md
// "Versions and rolling upgrades".
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
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { AllocationState } from "./types";

/** The format this build writes; vipd 0.1.0 wrote and read version 1, and 0.2.0 changed nothing incompatible. */
export const STATE_VERSION = 1;

/** Turns a file of version `v` (the key) into one of version v + 1; applied in a chain up to STATE_VERSION. */
export type StateMigration = (old: Readonly<Record<string, unknown>>) => Record<string, unknown>;

/**
 * Migrations from older formats, keyed by the version they read. None yet: version 1 is the first format and
 * still the current one. A future version 2 adds `1: (v1) => ({ ...v1, version: 2, ... })` here.
 */
export const MIGRATIONS: Readonly<Record<number, StateMigration>> = {};

/** A state file this build must not use or overwrite (newer or unknown format): the daemon refuses to start. */
export class StateFileVersionError extends Error {}

export interface StateRead {
  state?: AllocationState;
  warning?: string;
  /** The format version the file had, when a migration brought it to STATE_VERSION. */
  migratedFrom?: number;
  /** The vipd release that wrote it (absent in files written by 0.1.0). */
  writtenBy?: string;
}

/**
 * Brings a parsed state file to `current` through `migrations` (pure; parameters for the tests). Returns the
 * migrated object and the version it had, or why it cannot be used: a version newer than `current`, not a
 * positive integer, or older without a migration path.
 */
export function migrateState(
  raw: Readonly<Record<string, unknown>>,
  current = STATE_VERSION,
  migrations: Readonly<Record<number, StateMigration>> = MIGRATIONS,
): { value: Record<string, unknown>; from: number } | { refused: string } {
  const version = raw.version;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1)
    return { refused: `has an unknown format version ${JSON.stringify(version)}` };
  if (version > current)
    return { refused: `has format version ${version}, newer than the version ${current} this vipd reads` };
  let value: Record<string, unknown> = { ...raw };
  for (let v = version; v < current; v++) {
    const step = migrations[v];
    if (!step) return { refused: `has format version ${version}, and this vipd cannot migrate version ${v}` };
    value = step(value);
    if (value.version !== v + 1)
      return { refused: `migration from version ${v} did not give version ${v + 1}` };
  }
  return { value, from: version };
}

/**
 * Reads the state file. `self` names this build in a refusal (e.g. "vipd 0.2.0").
 * @throws StateFileVersionError for a newer or unknown format version.
 */
export function readAllocationState(path: string, self = "this vipd"): StateRead {
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
  if (!isRecord(parsed)) return { warning: fresh(path, "has the wrong shape: not a JSON object") };
  const writtenBy = typeof parsed.writtenBy === "string" ? parsed.writtenBy : undefined;
  const migrated = migrateState(parsed);
  if ("refused" in migrated) {
    const by = writtenBy ? ` (written by vipd ${writtenBy})` : "";
    throw new StateFileVersionError(
      `state file ${path} ${migrated.refused}${by}; ${self} refuses to start rather than drop the ` +
        `allocation that keeps service IPs stable: run a vipd that reads it, or move the file away to ` +
        `start from a fresh allocation`,
    );
  }
  const problem = shapeProblem(migrated.value);
  if (problem !== undefined) return { warning: fresh(path, `has the wrong shape: ${problem}`) };
  const state: AllocationState = {
    version: STATE_VERSION,
    assignments: migrated.value.assignments as AllocationState["assignments"],
  };
  return {
    state,
    ...(migrated.from !== STATE_VERSION ? { migratedFrom: migrated.from } : {}),
    ...(writtenBy !== undefined ? { writtenBy } : {}),
  };
}

/** `writtenBy`: this build's version, recorded so a refusal elsewhere can name the release that wrote it. */
export function writeAllocationState(path: string, state: AllocationState, writtenBy?: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const temp = tempPathFor(path);
  try {
    const fd = openSync(temp, "w", 0o644);
    try {
      writeSync(fd, stateText(state, writtenBy));
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

/** The hidden temporary file a write goes to before its rename, beside `path`. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

function stateText(state: AllocationState, writtenBy: string | undefined): string {
  const file = {
    version: state.version,
    ...(writtenBy ? { writtenBy } : {}),
    assignments: state.assignments,
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/**
 * writeAllocationState off the main thread (fs promises run on libuv's pool), one write at a time and the
 * newest state last: states asked for while a write runs collapse into the latest. The two fsyncs of a
 * write took 3-70 ms on a busy host, on the main thread, on the path of every reload (before its step) and
 * of start-up. The state file only seeds the next run's allocation, which peers' tables and the
 * deterministic allocator also give, so writing it a little later costs nothing. Its text is built
 * `delayMs` after the first state asked for (or at flush(), which a stopping daemon awaits): at 10,000
 * services that is 45-250 ms of JSON on the main thread, which ran inside the reload's step, ahead of the
 * new VIP's probe and add.
 */
export class StateFileWriter {
  private pending: AllocationState | undefined;
  private running: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly path: string,
    private readonly writtenBy: string | undefined,
    private readonly onError: (error: Error) => void,
    private readonly delayMs = STATE_WRITE_DELAY_MS,
  ) {}

  write(state: AllocationState): void {
    this.pending = state;
    if (this.running !== undefined || this.timer !== undefined) return;
    this.timer = setTimeout(() => this.start(), this.delayMs);
  }

  /** Settles once every state asked for so far is on disk (or failed); one still waiting is written now. */
  flush(): Promise<void> {
    if (this.timer !== undefined) this.start();
    return this.running ?? Promise.resolve();
  }

  private start(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    try {
      for (let state = this.pending; state !== undefined; state = this.pending) {
        this.pending = undefined;
        try {
          await writeStateFile(this.path, stateText(state, this.writtenBy));
        } catch (error) {
          this.onError(error instanceof Error ? error : new Error(String(error)));
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}

/** How long after a change the state file's text is built and written (StateFileWriter). */
export const STATE_WRITE_DELAY_MS = 500;

async function writeStateFile(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = tempPathFor(path);
  try {
    const file = await open(temp, "w", 0o644);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  try {
    const handle = await open(dir, "r");
    await handle.sync().finally(() => handle.close());
  } catch {
    // Best effort, as syncDirectory.
  }
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

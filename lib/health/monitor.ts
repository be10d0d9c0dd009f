// Runs every service's health check on its own interval, never two runs of one check at once, and keeps
// each check's rise/fall state. Listeners hear about every status change.
import { runCheck } from "./checkers";
import type { HealthCheckSpec } from "./spec";
import { nextHealth, PENDING, type CheckResult, type HealthState } from "./state";

export interface HealthEntry {
  readonly service: string;
  readonly spec: HealthCheckSpec;
  readonly state: HealthState;
  /** When the status last changed. */
  readonly since: Date;
}

export type HealthListener = (entry: HealthEntry, previous: HealthState) => void;
export type Checker = (spec: HealthCheckSpec) => Promise<CheckResult>;

interface Running {
  spec: HealthCheckSpec;
  key: string;
  state: HealthState;
  since: Date;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

export class HealthMonitor {
  private readonly checks = new Map<string, Running>();
  private readonly listeners = new Set<HealthListener>();
  private readonly firstRoundWaiters = new Set<() => void>();

  constructor(private readonly checker: Checker = (spec) => runCheck(spec.target, spec.timeoutMs)) {}

  /** service key -> spec. A new or changed check starts over from pending; removed ones stop. */
  setChecks(specs: ReadonlyMap<string, HealthCheckSpec>): void {
    for (const [service, running] of this.checks) {
      const spec = specs.get(service);
      if (spec && specKey(spec) === running.key) continue;
      this.stopOne(running);
      this.checks.delete(service);
    }
    for (const [service, spec] of specs) {
      if (this.checks.has(service)) continue;
      const running: Running = {
        spec,
        key: specKey(spec),
        state: PENDING,
        since: new Date(),
        timer: undefined,
        stopped: false,
      };
      this.checks.set(service, running);
      void this.runLoop(service, running);
    }
    this.resolveFirstRound();
  }

  state(service: string): HealthEntry | undefined {
    const running = this.checks.get(service);
    return running && { service, spec: running.spec, state: running.state, since: running.since };
  }

  entries(): HealthEntry[] {
    return [...this.checks.keys()].sort().flatMap((service) => this.state(service) ?? []);
  }

  onChange(listener: HealthListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once every check has a first result, or after `timeoutMs`. */
  firstRound(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.firstRoundWaiters.delete(finish);
        resolve();
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.firstRoundWaiters.add(finish);
      this.resolveFirstRound();
    });
  }

  close(): void {
    for (const running of this.checks.values()) this.stopOne(running);
    this.checks.clear();
    this.listeners.clear();
  }

  private async runLoop(service: string, running: Running): Promise<void> {
    if (running.stopped) return;
    const started = Date.now();
    let result: CheckResult;
    try {
      result = await this.checker(running.spec);
    } catch (error) {
      result = { ok: false, detail: (error as Error).message };
    }
    if (running.stopped) return;
    const previous = running.state;
    running.state = nextHealth(previous, result, running.spec);
    if (running.state.status !== previous.status) {
      running.since = new Date();
      const entry = { service, spec: running.spec, state: running.state, since: running.since };
      for (const listener of this.listeners) listener(entry, previous);
    }
    this.resolveFirstRound();
    // The next run starts one interval after this one started, and never before this one finished.
    const wait = Math.max(0, running.spec.intervalMs - (Date.now() - started));
    running.timer = setTimeout(() => void this.runLoop(service, running), wait);
  }

  private resolveFirstRound(): void {
    if ([...this.checks.values()].some((c) => c.state.status === "pending")) return;
    for (const finish of this.firstRoundWaiters) finish();
    this.firstRoundWaiters.clear();
  }

  private stopOne(running: Running): void {
    running.stopped = true;
    if (running.timer) clearTimeout(running.timer);
  }
}

const specKey = (spec: HealthCheckSpec): string => JSON.stringify(spec);

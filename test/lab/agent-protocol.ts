// JSON lines over stdio between a lab test and an agent process running inside a namespace.
// Requests: {id, op, ...}; replies: {id, ok: true, result} | {id, ok: false, error}; unsolicited events:
// {event, at, ...} where `at` is process.hrtime.bigint() in ns as a string (CLOCK_MONOTONIC, comparable
// across processes and namespaces).
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const monotonicNs = (): bigint => process.hrtime.bigint();

/** Agent side: serve requests from stdin, write replies and events to stdout. */
export function serveAgent(handlers: Record<string, (request: JsonObject) => Promise<Json> | Json>): {
  emit(event: string, fields: JsonObject): void;
} {
  const write = (message: JsonObject): void => {
    process.stdout.write(JSON.stringify(message) + "\n");
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    let request: JsonObject;
    try {
      request = JSON.parse(line) as JsonObject;
    } catch {
      return;
    }
    const handler = handlers[String(request.op)];
    void (async () => {
      try {
        if (!handler) throw new Error(`unknown op ${String(request.op)}`);
        write({ id: request.id, ok: true, result: await handler(request) });
      } catch (error) {
        write({
          id: request.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    })();
  });
  lines.on("close", () => process.exit(0));
  return { emit: (event, fields) => write({ event, at: monotonicNs().toString(), ...fields }) };
}

export interface AgentEvent extends JsonObject {
  event: string;
  at: string;
}

/** Test side: a running agent. */
export class AgentHandle {
  readonly events: AgentEvent[] = [];
  private readonly pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private stderr = "";
  private exited = false;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    createInterface({ input: child.stdout! }).on("line", (line) => this.onLine(line));
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      for (const { reject } of this.pending.values()) {
        reject(new Error(`agent ${name} exited (${code ?? signal}) before replying: ${this.stderr.trim()}`));
      }
      this.pending.clear();
      this.notify();
    });
  }

  request(op: string, fields: JsonObject = {}): Promise<Json> {
    if (this.exited) return Promise.reject(new Error(`agent ${this.name} has exited: ${this.stderr.trim()}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(JSON.stringify({ id, op, ...fields }) + "\n");
    });
  }

  /** Resolves with the first event (already received or future) that matches. */
  waitEvent(
    match: (e: AgentEvent) => boolean,
    timeoutMs: number,
    description = "event",
  ): Promise<AgentEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.find(match);
        if (found) {
          finish();
          resolve(found);
          return true;
        }
        if (this.exited) {
          finish();
          reject(
            new Error(`agent ${this.name} exited while waiting for ${description}: ${this.stderr.trim()}`),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`agent ${this.name}: no ${description} within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => {
        check();
      };
      if (!check()) this.waiters.add(waiter);
    });
  }

  get stderrText(): string {
    return this.stderr;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (!this.exited) this.child.kill(signal);
  }

  exitedPromise(): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  private onLine(line: string): void {
    let message: JsonObject;
    try {
      message = JSON.parse(line) as JsonObject;
    } catch {
      return;
    }
    if (typeof message.event === "string") {
      this.events.push(message as AgentEvent);
      this.notify();
      return;
    }
    const waiter = this.pending.get(Number(message.id));
    if (!waiter) return;
    this.pending.delete(Number(message.id));
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`agent ${this.name}: ${String(message.error)}`));
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Waits until an agent prints its `ready` event. */
export async function startAgent(name: string, child: ChildProcess, timeoutMs = 10000): Promise<AgentHandle> {
  const agent = new AgentHandle(name, child);
  await agent.waitEvent((e) => e.event === "ready", timeoutMs, "ready event");
  return agent;
}

// Sets a lab node's eth0 down or up with no process start in the timed path. The failover clock starts right
// before the fault; `ip -n <ns> link set eth0 down` through execFile took 16–55 ms on this 2-core host under
// load (fork, exec, the netns switch), and the link changed only near the end of that. Every link-down round
// then counted the spawn as detection, for every system alike: a constant added to both sides of a ratio
// favours the slower one. So each node gets one `ip -batch -` process, started before the rounds, and a fault
// is one line written to its stdin. Measured: `ip monitor link` saw the change 0.5–2.4 ms after the write.
import { spawn, type ChildProcess } from "node:child_process";
import type { Lab } from "../test/lab/lab";
import { sleep } from "../test/lab/lab-helpers";

export class LinkSwitch {
  private readonly batches = new Map<number, ChildProcess>();
  private errors = "";

  constructor(private readonly lab: Lab) {}

  /** Starts node n's batch process if it is not running yet (call before the timed part of a round). */
  prepare(n: number): void {
    if (this.batches.get(n)?.exitCode === null) return;
    // -force: a failed line is reported on stderr and the batch goes on reading.
    const child = spawn("ip", ["-n", this.lab.node(n).ns, "-force", "-batch", "-"], {
      stdio: ["pipe", "ignore", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => (this.errors += chunk.toString()));
    child.on("error", (err) => (this.errors += `${err.message}\n`));
    this.batches.set(n, child);
  }

  /** Writes the change; the kernel applies it within a few ms. Follow with `confirm` outside the timing. */
  set(n: number, up: boolean): void {
    this.prepare(n);
    this.batches.get(n)?.stdin?.write(`link set eth0 ${up ? "up" : "down"}\n`);
  }

  /** Waits until node n's eth0 is administratively up or down, as `set` asked; throws after 5 s. */
  async confirm(n: number, up: boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const [link] = JSON.parse(
        await this.lab.ip(this.lab.node(n).ns, "-j", "link", "show", "eth0"),
      ) as Array<{
        flags?: string[];
      }>;
      if ((link?.flags ?? []).includes("UP") === up) return;
      if (Date.now() > deadline)
        throw new Error(
          `node${n} eth0 did not go ${up ? "up" : "down"}: ${this.errors || "no error from ip"}`,
        );
      await sleep(5);
    }
  }

  close(): void {
    for (const child of this.batches.values()) child.stdin?.end();
    this.batches.clear();
  }
}

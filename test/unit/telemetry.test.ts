// vipd_announced and vipd_vips_not_held are computed when /metrics is scraped, from the daemon's state at
// that moment: nothing is rebuilt between scrapes (a 10,000-VIP takeover rebuilt them after every kernel
// change), and a scrape never shows a VIP the kernel does not hold.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMetrics } from "../../lib/daemon/metrics";
import { Telemetry } from "../../lib/daemon/telemetry";
import { planConfig } from "./plan-builders";

const IPS = ["198.51.100.10", "198.51.100.11", "198.51.100.12"];

/** vipd_announced's IPs with value 1, and vipd_vips_not_held, from one scrape. */
async function scrape(text: Promise<string>): Promise<{ announced: string[]; notHeld: number }> {
  const body = await text;
  const announced = [...body.matchAll(/^vipd_announced\{[^}]*ip="([^"]+)"[^}]*\} 1$/gm)].map(
    (m) => m[1] ?? "",
  );
  const notHeld = Number(/^vipd_vips_not_held (\d+)$/m.exec(body)?.[1]);
  return { announced: announced.sort(), notHeld };
}

test("vipd_announced: computed at scrape time from the intended set and the kernel's view", async () => {
  const metrics = createMetrics({ version: "0.0.0", revision: "test" });
  const telemetry = new Telemetry(metrics, "node1");
  const active = planConfig(IPS);
  let intended = new Map<string, string>([[IPS[0] ?? "", "eth0"]]);
  const inKernel = new Set<string>();
  let lookups = 0;
  telemetry.announcedFrom(() => ({
    active,
    intended,
    observed: (ip) => {
      lookups++;
      return inKernel.has(ip);
    },
  }));
  assert.equal(lookups, 0, "nothing is computed before a scrape");
  assert.deepEqual(await scrape(metrics.registry.metrics()), { announced: [], notHeld: 1 });
  // The kernel confirms it, the plan wants a second one: the next scrape shows exactly that.
  inKernel.add(IPS[0] ?? "");
  intended = new Map([
    [IPS[0] ?? "", "eth0"],
    [IPS[1] ?? "", "eth0"],
  ]);
  assert.deepEqual(await scrape(metrics.registry.metrics()), { announced: [IPS[0] ?? ""], notHeld: 1 });
  inKernel.add(IPS[1] ?? "");
  assert.deepEqual(await scrape(metrics.registry.metrics()), {
    announced: [IPS[0], IPS[1]].sort(),
    notHeld: 0,
  });
  // Removed from the kernel behind our back: no longer announced, counted as not held.
  inKernel.delete(IPS[0] ?? "");
  assert.deepEqual(await scrape(metrics.registry.metrics()), { announced: [IPS[1] ?? ""], notHeld: 1 });
});

// What the IPv4 and IPv6 conflict labs both check of a cluster facing a foreign device on a VIP: the same
// events, metric and status lines for either family.
import assert from "node:assert/strict";
import type { VipdCluster } from "./cluster";

/** vipd_address_conflicts_total for `ip` on node n (0 before the first conflict). */
export async function conflictCount(cluster: VipdCluster, n: number, ip: string): Promise<number> {
  const match = new RegExp(
    `^vipd_address_conflicts_total\\{ip="${ip.replace(/\./g, "\\.")}"\\} (\\d+)`,
    "m",
  ).exec(await cluster.metrics(n));
  return match ? Number(match[1]) : 0;
}

/** Nodes `nodes` all report the device on `ip` (status warning, metric), and none owns it; returns the reason. */
export async function untilEveryNodeReportsConflict(
  cluster: VipdCluster,
  nodes: readonly number[],
  ip: string,
  deviceMac: string,
  timeoutMs: number,
): Promise<string> {
  const reason = `address conflict: ${ip} is held by ${deviceMac} (not a cluster member)`;
  await cluster.until(
    "every node reports the conflict and nobody owns the squatted IP",
    async () => {
      const statuses = await Promise.all(nodes.map((n) => cluster.status(n)));
      return statuses.every(
        (s) => s.warnings.some((w) => w.includes(reason)) && s.vips.find((v) => v.ip === ip)?.owner === null,
      );
    },
    timeoutMs,
    100,
  );
  const counts = await Promise.all(nodes.map((n) => conflictCount(cluster, n, ip)));
  assert.ok(
    counts.every((c) => c >= 1),
    `vipd_address_conflicts_total{ip="${ip}"} >= 1 on every node, got ${counts.join(",")}`,
  );
  assert.ok(
    (await cluster.status(nodes[0] ?? 1)).events.some(
      (e) => e.reason === "addressConflict" && e.message.includes(reason),
    ),
    "an addressConflict event names the device",
  );
  return reason;
}

/** After a foreign claim on `ip`, held by node n: it is reported, the holder keeps the IP and answered it once. */
export async function assertForeignClaimAnswered(
  cluster: VipdCluster,
  n: number,
  ip: string,
  deviceMac: string,
): Promise<void> {
  const status = await cluster.status(n);
  assert.ok(
    status.warnings.some((w) => w.includes(`${ip} held by this node is also claimed by ${deviceMac}`)),
    "the holder's status names the foreign device",
  );
  assert.deepEqual(await cluster.holders(ip), [`node${n}`], "the holder keeps the IP");
  assert.match(
    cluster.node(n).log,
    new RegExp(`"event":"reannounce".*foreign device ${deviceMac} claimed it`),
    "the holder answered with a burst",
  );
}

/**
 * After the device let go of `ip`: every node's record of it cleared (each at its own re-probe, up to a
 * re-probe period apart) and the IP on exactly one node, the owner the election names, in two polls in a
 * row. Until then ownership can still move: the first node whose re-probe found the IP free took it, and a
 * better-ranked node takes it back (make-before-break, so briefly on both) once its own re-probe clears.
 * Returns the holder's number.
 */
export async function untilSettledAfterConflict(
  cluster: VipdCluster,
  nodes: readonly number[],
  ip: string,
  timeoutMs: number,
): Promise<number> {
  let streak = 0;
  let holder = "";
  await cluster.until(
    "no node reports the conflict and one node, the elected owner, holds the IP",
    async () => {
      const statuses = await Promise.all(nodes.map((n) => cluster.status(n)));
      const holders = await cluster.holders(ip);
      const owner = statuses[0]?.vips.find((v) => v.ip === ip)?.owner;
      const settled =
        statuses.every((s) => !s.warnings.some((w) => w.includes(`address conflict: ${ip}`))) &&
        holders.length === 1 &&
        holders[0] === owner;
      streak = settled ? streak + 1 : 0;
      holder = holders[0] ?? "";
      return streak >= 2;
    },
    timeoutMs,
    100,
  );
  return Number(holder.replace("node", ""));
}

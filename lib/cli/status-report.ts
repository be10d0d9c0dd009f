// Renders `/status` the way `kubectl get svc` would: who has which IP at a glance, then members, events and
// warnings; `--ip` explains one election candidate by candidate.
import type { DaemonStatus, StatusDetection, StatusVip } from "../daemon/status-types";
import { renderTable } from "./table";

/** "0.2.0 (protocol 1, metadata 1)": the release and the versions it speaks now; "" while unknown. */
function memberVersion(m: DaemonStatus["members"][number]): string {
  if (!m.version) return "";
  const v = m.versions;
  return v ? `${m.version} (protocol ${v.protocol.current}, metadata ${v.metadata.current})` : m.version;
}

export function renderStatus(status: DaemonStatus, now: Date = new Date()): string {
  const vipRows = status.vips.flatMap((v) =>
    v.services.map((service) => [
      service,
      v.ips.join(","),
      v.pool,
      v.owner === null
        ? `<none: ${v.reason ?? "no eligible node"}>`
        : v.held === false
          ? `${v.owner} (NOT IN KERNEL)`
          : v.owner,
      v.interface ?? "",
      v.since ? age(v.since, now) : "",
    ]),
  );
  const sections = [
    `node ${status.node}  config ${status.config.stale ? "STALE (last good config in force)" : "ok"}  digest ${status.config.digest.slice(0, 12)}`,
    ...(status.detection ? [describeDetection(status.detection)] : []),
    renderTable(["SERVICE", "IP", "POOL", "NODE", "INTERFACE", "SINCE"], vipRows),
    renderTable(
      ["NODE", "ADDRESS", "STATE", "VIPS", "VERSION", "FAILED AFTER"],
      status.members.map((m) => [
        m.name + (m.self ? " (this node)" : ""),
        m.address,
        m.state + (m.configMismatch ? " (config differs)" : ""),
        String(m.vips),
        memberVersion(m),
        failedAfter(m, status.detection),
      ]),
    ),
  ];
  const holding = status.holding;
  if (holding) {
    const lines = [
      `THIS NODE: intended ${holding.intended} VIP address(es), observed in the kernel ${holding.observed}` +
        (status.ready ? "" : `; NOT READY${status.notReadyReason ? `: ${status.notReadyReason}` : ""}`),
    ];
    for (const d of holding.divergences) lines.push(`- ${d.ip} on ${d.interface}: ${d.reason}`);
    for (const g of holding.givenUp) lines.push(`- ${g.ip} given up to a peer: ${g.reason}`);
    sections.push(lines.join("\n"));
  }
  if ((status.health ?? []).length > 0) {
    sections.push(
      "HEALTH CHECKS (this node)\n" +
        renderTable(
          ["SERVICE", "CHECK", "STATUS", "SINCE"],
          (status.health ?? []).map((h) => [
            h.service,
            h.check,
            h.status === "down"
              ? `failing: ${h.detail ?? "failed"}`
              : h.status === "up"
                ? "passing"
                : "pending",
            age(h.since, now),
          ]),
        ),
    );
  }
  if (status.events.length > 0) {
    sections.push(
      "EVENTS\n" +
        // The IP and service are what tell one "announcing from node-b" from the next.
        renderTable(
          ["AGE", "REASON", "IP", "SERVICE", "MESSAGE"],
          status.events
            .slice(-10)
            .map((e) => [age(e.time, now), e.reason, e.ip ?? "", e.service ?? "", e.message]),
        ),
    );
  }
  const warnings = [...status.config.errors, ...status.warnings];
  for (const e of status.allocationErrors) warnings.push(`AllocationFailed ${e.service}: ${e.message}`);
  if (warnings.length > 0) sections.push(`WARNINGS\n${warnings.map((w) => `- ${w}`).join("\n")}`);
  return sections.join("\n\n");
}

export function renderIpExplanation(status: DaemonStatus, ip: string): string {
  const vip = status.vips.find((v) => v.ips.includes(ip));
  if (!vip) {
    const pending = status.allocationErrors.map((e) => `${e.service}: ${e.message}`);
    return (
      `${ip} is not allocated to any service.` +
      (pending.length ? `\nAllocation errors:\n${pending.join("\n")}` : "")
    );
  }
  return [
    `${ip}: ${describeOwner(vip)}`,
    `services: ${vip.services.join(", ")}   pool: ${vip.pool}   moves with: ${vip.ips.join(", ")}`,
    `candidates in election order (preference score, then sha256(node#${vip.ip})):`,
    renderTable(
      ["#", "NODE", "SCORE", "HASH", "VERDICT"],
      vip.ranking.map((r, i) => [
        r.skipped ? "-" : String(i + 1),
        r.node,
        String(r.score),
        r.hash.slice(0, 8),
        r.skipped ? `skipped: ${r.skipped}` : r.node === vip.owner ? "OWNER" : "standby",
      ]),
    ),
  ].join("\n");
}

/**
 * The silence after which this node declares the member failed, flagged when it is longer than the configured
 * timeout because the member's heartbeats lately came with long gaps (a paused or starved daemon).
 */
function failedAfter(m: DaemonStatus["members"][number], d: StatusDetection | undefined): string {
  if (m.failedAfterMs === undefined) return "";
  const learned = d !== undefined && m.failedAfterMs > d.failureTimeoutMs;
  return `${m.failedAfterMs} ms${learned ? " (learned: long gaps)" : ""}`;
}

function describeDetection(d: StatusDetection): string {
  return (
    `failure detection: a member silent ${d.failureTimeoutMs} ms is failed (heartbeat every ` +
    `${d.heartbeatIntervalMs} ms, suspected after ${d.suspectAfterMs} ms; profile ${d.profile}); ` +
    `detector thread ${d.scheduling}` +
    (d.helperScheduling ? `, ${d.helperScheduling}` : "")
  );
}

function describeOwner(vip: StatusVip): string {
  if (!vip.owner) return `announced by nobody (${vip.reason ?? "no eligible node"})`;
  if (vip.held === false)
    return `elected owner ${vip.owner} (this node), but NOT in its kernel: ${vip.divergence ?? "being added"}`;
  return `announced by ${vip.owner}${vip.interface ? ` on ${vip.interface}` : ""}${vip.since ? ` since ${vip.since}` : ""}`;
}

function age(iso: string, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}

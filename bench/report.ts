// Regenerates docs/benchmarks.md (and its SVG charts in docs/benchmarks/) from every JSON file in
// bench/results. Nothing here holds a number: tables and charts are drawn from the files as they are.
// Run: node dist/bench/report.js (npm run bench runs it last).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const RESULTS = join(ROOT, "bench", "results");
const DOCS = join(ROOT, "docs");
const CHARTS = join(DOCS, "benchmarks");

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

interface Provenance {
  command: string;
  at: string;
  machine: { cores: number; cpu: string; kernel: string; node: string };
}

const isObject = (v: JsonValue | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function cell(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
  if (typeof v === "string" || typeof v === "boolean") return String(v).replace(/\|/g, "\\|");
  return JSON.stringify(v).replace(/\|/g, "\\|");
}

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${headers.join(" | ")} |`,
    `| ${headers.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Flattens nested objects to `a.b.c` keys (arrays of scalars stay as one value). */
function flatten(o: JsonObject, prefix = ""): Array<[string, JsonValue]> {
  const out: Array<[string, JsonValue]> = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v)) out.push(...flatten(v, key));
    else out.push([key, v]);
  }
  return out;
}

function provenanceLine(name: string, data: JsonObject): string {
  const failed = data.latestRunFailed as unknown as { at: string; exit: number } | undefined;
  const warning = failed
    ? `**The latest run of this bench (${failed.at}) failed (exit ${failed.exit}); the figures below are from ` +
      `the older run named here.**\n\n`
    : "";
  return warning + provenanceText(name, data);
}

function provenanceText(name: string, data: JsonObject): string {
  const p = data.provenance as unknown as Provenance | undefined;
  if (!p) {
    return `_Provenance not recorded: this file was not written by \`npm run bench\` (produced by \`node dist/bench/${name}.js\`)._`;
  }
  return (
    `_Command: \`${p.command}\` · machine: ${p.machine.cores} cores (${p.machine.cpu}), Linux ${p.machine.kernel}, ` +
    `Node ${p.machine.node} · date: ${p.at}_`
  );
}

/** Any result file: its scalars as one table, each array of objects as its own table. */
function genericSection(name: string, data: JsonObject): string {
  const parts = [`## ${name}`, "", provenanceLine(name, data), ""];
  const scalars: string[][] = [];
  const tables: string[] = [];
  const visit = (o: JsonObject, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      if (k === "provenance" || k === "latestRunFailed") continue;
      const key = prefix ? `${prefix}.${k}` : k;
      if (Array.isArray(v) && v.length > 0 && v.every(isObject)) {
        const rows = (v as JsonObject[]).map((r) => new Map(flatten(r)));
        const headers = [...new Set(rows.flatMap((r) => [...r.keys()]))];
        tables.push(
          `**${key}**\n\n${table(
            headers,
            rows.map((r) => headers.map((h) => cell(r.get(h)))),
          )}`,
        );
      } else if (isObject(v)) visit(v, key);
      else scalars.push([key, cell(v)]);
    }
  };
  visit(data, "");
  if (scalars.length > 0) parts.push(table(["field", "value"], scalars), "");
  for (const t of tables) parts.push(t, "");
  return parts.join("\n");
}

// ---- failover ------------------------------------------------------------------------------------

interface FailoverRound {
  failoverMs: number;
  lostProbes: number;
  outageMs: number;
  to: string;
  breakdown?: { detectionMs: number; decisionMs: number; netlinkMs: number; sendMs: number };
}
interface FailoverScenario {
  failoverMs: Record<string, number>;
  lostProbes: Record<string, number>;
  rounds: FailoverRound[];
}
interface FailoverSystem {
  description: string;
  vip: string;
  /** Rounds per scenario for this system (absent in results written before systems could differ). */
  rounds?: number;
  [scenario: string]: FailoverScenario | string | number | undefined;
}
interface FailoverResult {
  command: string;
  at: string;
  machine: { cores: number; cpu: string; kernel: string; node: string; keepalived: string };
  rounds: number;
  probeIntervalMs: number;
  scenarios: Record<string, string>;
  durationS: number;
  ratioVipdToKeepalivedTuned: Record<string, { p50: number; p99: number }>;
  systems: Record<string, FailoverSystem>;
}

/** "12 rounds per system and scenario", or each system's count where they differ. */
function roundsText(result: FailoverResult): string {
  const counts = Object.entries(result.systems).map(
    ([name, s]) => [name, s.rounds ?? result.rounds] as const,
  );
  if (counts.every(([, n]) => n === result.rounds)) return `${result.rounds} rounds per system and scenario`;
  return `rounds per scenario: ${counts.map(([name, n]) => `${name} ${n}`).join(", ")}`;
}

const COLORS = ["#1b7837", "#2166ac", "#b2182b", "#762a83", "#e08214"];

/** Dot plot of every round per system on a log time axis, with the p50 marked. */
function failoverChart(result: FailoverResult, scenario: string): string {
  const systems = Object.entries(result.systems);
  const width = 760;
  const left = 170;
  const right = 30;
  const rowHeight = 46;
  const top = 40;
  const height = top + systems.length * rowHeight + 50;
  const all = systems.flatMap(([, s]) => (s[scenario] as FailoverScenario).rounds.map((r) => r.failoverMs));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...all)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const x = (ms: number): number =>
    left +
    ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) *
      (width - left - right);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(result.scenarios[scenario] ?? scenario)}: fault to first GARP from the new owner (ms, log scale)</text>`,
  ];
  const axisY = top + systems.length * rowHeight + 5;
  for (let decade = lo; decade <= hi; decade *= 10) {
    for (const m of [1, 2, 5]) {
      const v = decade * m;
      if (v > hi) break;
      const gx = x(v).toFixed(1);
      out.push(
        `<line x1="${gx}" y1="${top - 5}" x2="${gx}" y2="${axisY}" stroke="${m === 1 ? "#bbb" : "#eee"}"/>`,
        `<text x="${gx}" y="${axisY + 16}" text-anchor="middle" fill="#444">${v >= 1000 ? `${v / 1000} s` : `${v}`}</text>`,
      );
    }
  }
  systems.forEach(([name, s], i) => {
    const data = s[scenario] as FailoverScenario;
    const cy = top + i * rowHeight + rowHeight / 2;
    const color = COLORS[i % COLORS.length];
    out.push(`<text x="${left - 10}" y="${cy + 4}" text-anchor="end">${escapeXml(name)}</text>`);
    data.rounds.forEach((r, j) => {
      const jitter = ((j % 5) - 2) * 3;
      out.push(
        `<circle cx="${x(r.failoverMs).toFixed(1)}" cy="${(cy + jitter).toFixed(1)}" r="3" fill="${color}" fill-opacity="0.55"/>`,
      );
    });
    const p50 = data.failoverMs.p50;
    out.push(
      `<line x1="${x(p50).toFixed(1)}" y1="${cy - 14}" x2="${x(p50).toFixed(1)}" y2="${cy + 14}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${(x(p50) + 5).toFixed(1)}" y="${cy - 10}" fill="${color}">p50 ${p50} ms</text>`,
    );
  });
  out.push(
    `<text x="${left}" y="${height - 8}" fill="#666">dots: one per round (${escapeXml(roundsText(result))}); bar: p50. ${escapeXml(result.machine.cores + " cores, Linux " + result.machine.kernel + ", " + result.at)}</text>`,
    "</svg>",
  );
  return out.join("\n") + "\n";
}

interface Series {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

/** Line chart on linear axes; `xTicks` labels the x values given (e.g. cluster sizes). */
function xyChart(opts: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  footer: string;
  xTicks?: readonly number[];
  xPosition?: (x: number) => number;
}): string {
  const width = 760;
  const height = 360;
  const left = 70;
  const right = 170;
  const top = 40;
  const bottom = 60;
  const pos = opts.xPosition ?? ((v: number) => v);
  const xs = opts.series.flatMap((s) => s.points.map((p) => pos(p[0])));
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  const yMax = niceCeil(Math.max(...ys, 1));
  const x = (v: number): number => left + ((pos(v) - x0) / (x1 - x0)) * (width - left - right);
  const y = (v: number): number => top + (1 - v / yMax) * (height - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    out.push(
      `<line x1="${left}" y1="${y(v).toFixed(1)}" x2="${width - right}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#444">${cell(v)}</text>`,
    );
  }
  const ticks = opts.xTicks ?? Array.from({ length: 6 }, (_, i) => x0 + ((x1 - x0) / 5) * i);
  for (const t of ticks)
    out.push(
      `<text x="${x(t).toFixed(1)}" y="${height - bottom + 18}" text-anchor="middle" fill="#444">${cell(t)}</text>`,
    );
  out.push(
    `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#888"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - bottom + 36}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`,
    `<text x="14" y="${(top + height - bottom) / 2}" transform="rotate(-90 14 ${(top + height - bottom) / 2})" text-anchor="middle">${escapeXml(opts.yLabel)}</text>`,
  );
  opts.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => `${j === 0 ? "M" : "L"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    out.push(`<path d="${d.join(" ")}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (s.points.length <= 12)
      for (const p of s.points)
        out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    out.push(
      `<line x1="${width - right + 12}" y1="${top + 10 + i * 18}" x2="${width - right + 30}" y2="${top + 10 + i * 18}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${width - right + 36}" y="${top + 14 + i * 18}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push(`<text x="${left}" y="${height - 6}" fill="#666">${escapeXml(opts.footer)}</text>`, "</svg>");
  return out.join("\n") + "\n";
}

function niceCeil(v: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function machineLine(data: JsonObject): string {
  const p = data.provenance as unknown as Provenance | undefined;
  return p ? `${p.machine.cores} cores, Linux ${p.machine.kernel}, ${p.at}` : "provenance not recorded";
}

// ---- gossip ---------------------------------------------------------------------------------------

interface Latency {
  members: number;
  runs: number;
  encrypted: boolean;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  kind?: string;
}
interface GossipResult {
  steadyState: Array<{ members: number; perMember: { packetsOutPerSec: number; bytesOutPerSec: number } }>;
  detection: Latency[];
  dissemination: Latency[];
  realUdpLoopback?: { members: number; packetsOutPerMemberPerSec: number; cpuMsPerMemberPerSec: number };
}

function gossipSection(data: JsonObject): string {
  const g = data as unknown as GossipResult;
  const sizes = [...new Set(g.steadyState.map((s) => s.members))].sort((a, b) => a - b);
  const find = (list: Latency[], n: number, kind?: string): Latency | undefined =>
    list.find((l) => l.members === n && (kind === undefined || l.kind === kind));
  const rows = sizes.map((n) => {
    const d = find(g.detection, n);
    const meta = find(g.dissemination, n, "metadata");
    const join = find(g.dissemination, n, "join");
    const steady = g.steadyState.find((s) => s.members === n);
    const pair = (l: Latency | undefined): string => (l ? `${cell(l.p50Ms)} / ${cell(l.p99Ms)}` : "");
    return [
      String(n),
      pair(d),
      pair(meta),
      pair(join),
      cell(steady?.perMember.bytesOutPerSec),
      cell(steady?.perMember.packetsOutPerSec),
      d?.encrypted === false || join?.encrypted === false ? "no (sim speed)" : "yes",
    ];
  });
  const file = "gossip-latency.svg";
  const series = (
    name: string,
    list: Latency[],
    kind: string | undefined,
    key: "p50Ms" | "p99Ms",
  ): Series => ({
    name,
    points: sizes.flatMap((n) => {
      const l = find(list, n, kind);
      return l ? [[n, l[key]] as const] : [];
    }),
  });
  writeFileSync(
    join(CHARTS, file),
    xyChart({
      title: "Membership on the simulator: ms until every member knows",
      xLabel: "members (N)",
      yLabel: "ms",
      xTicks: sizes,
      xPosition: (n) => Math.log10(n),
      series: [
        series("crash, p50", g.detection, undefined, "p50Ms"),
        series("crash, p99", g.detection, undefined, "p99Ms"),
        series("new member, p50", g.dissemination, "join", "p50Ms"),
        series("new member, p99", g.dissemination, "join", "p99Ms"),
        series("metadata, p99", g.dissemination, "metadata", "p99Ms"),
      ],
      footer: `simulated LAN 0.5±0.3 ms, lan profile; ${machineLine(data)}`,
    }),
  );
  const parts = [
    "## Membership (simulator)",
    "",
    provenanceLine("gossip", data),
    "",
    "vipd's gossip (SWIM + Lifeguard + the ring-heartbeat fast path, `lan` profile) on the deterministic " +
      "simulator: simulated LAN latency 0.5 ± 0.3 ms, virtual clock, the real code and packets. Detection: a " +
      "member is crashed at a random phase; time until every other member holds it dead. Dissemination: a " +
      "member changes its metadata (what a node does when a VIP becomes ineligible there), or a new member " +
      "joins; time until every member has it. Traffic: steady state, per member, encrypted packets as sent.",
    "",
    table(
      [
        "N",
        "crash detected, p50 / p99 ms",
        "metadata change, p50 / p99 ms",
        "new member known, p50 / p99 ms",
        "bytes/s out per member",
        "packets/s out per member",
        "latency runs encrypted",
      ],
      rows,
    ),
    "",
    `![membership latency](benchmarks/${file})`,
    "",
  ];
  const extraDetection = g.detection.filter((d) => !sizes.includes(d.members));
  for (const d of extraDetection)
    parts.push(
      `Detection at N=${d.members}: p50 ${cell(d.p50Ms)} ms, p99 ${cell(d.p99Ms)} ms (${d.runs} runs).`,
      "",
    );
  if (g.realUdpLoopback)
    parts.push(
      `Real UDP on loopback, ${g.realUdpLoopback.members} members in one process: ` +
        `${cell(g.realUdpLoopback.packetsOutPerMemberPerSec)} packets/s and ` +
        `${cell(g.realUdpLoopback.cpuMsPerMemberPerSec)} ms of CPU per member per second (crypto and syscalls included).`,
      "",
    );
  return parts.join("\n");
}

// ---- scale ----------------------------------------------------------------------------------------

interface ScaleSide {
  system: string;
  startToAllHeldMs?: number;
  perNode?: number[];
  steadyState?: Array<{ node: string; rssMb: number; peakRssMb: number; cpuPercent: number }>;
  crash?: {
    victim: string;
    victimVips: number;
    detectionMs?: number;
    announced: number;
    neverAnnounced: number;
    firstAnnouncedMs: number | null;
    allAnnouncedMs: number | null;
    lastAnnouncedMs: number | null;
    allAnnouncedAfterFirstMs: number | null;
    allAnnouncedAfterDetectionMs?: number;
    /** keepalived: the addresses each node held at the kill. */
    heldPerNodeAtKill?: number[];
    curve: Array<[number, number]>;
  };
  crashDiagnosis?: JsonValue;
  reload?: {
    writeToGarpMs: number | null;
    writeToAddressMs?: number | null;
    note: string;
    trace?: Record<string, number | null>;
  };
  membership?: Record<string, number>;
  trace?: Record<string, number | null>;
  kernel?: { addMs: number; adds: number[]; note: string };
}
interface ScaleResult {
  vips: number;
  family: string;
  systems: Record<string, ScaleSide>;
  ratioVipdToKeepalived: Record<string, number | null>;
  durationS: number;
}

function scaleSection(data: JsonObject, name: string): string {
  const r = data as unknown as ScaleResult;
  const sides = Object.entries(r.systems);
  const max = (xs: number[] | undefined): string => (xs && xs.length > 0 ? cell(Math.max(...xs)) : "");
  const ms = (v: number | null | undefined): string => (v === null || v === undefined ? "—" : cell(v));
  const rows = sides.map(([name, s]) => [
    name,
    ms(s.startToAllHeldMs),
    max(s.steadyState?.map((n) => n.rssMb)),
    max(s.steadyState?.map((n) => n.cpuPercent)),
    s.crash ? `${s.crash.announced} of ${s.crash.victimVips}` : "",
    ms(s.crash?.detectionMs),
    ms(s.crash?.firstAnnouncedMs),
    ms(s.crash?.allAnnouncedMs),
    ms(s.crash?.allAnnouncedAfterDetectionMs),
    ms(s.crash?.allAnnouncedAfterFirstMs),
    ms(s.reload?.writeToGarpMs),
  ]);
  const file = `${name}-crash.svg`;
  writeFileSync(
    join(CHARTS, file),
    xyChart({
      title: `Crash of the node holding ~1/3 of ${r.vips} VIPs: VIPs announced again by a survivor`,
      xLabel: "ms after SIGKILL",
      yLabel: "VIPs announced (first NA/GARP each)",
      series: sides.flatMap(([name, s]) => (s.crash ? [{ name, points: s.crash.curve }] : [])),
      footer: machineLine(data),
    }),
  );
  const parts = [
    `## Scale: ${r.vips} VIPs, ${r.family.split(" ")[0]}, vipd against keepalived`,
    "",
    provenanceLine(name, data),
    "",
    `${r.vips} VIPs, ${r.family}, over a 3-node lab; vipd first, then keepalived in the same lab and run ` +
      "(3 VRRP instances, one master per node, VRRPv3 advert_int 0.1, the VIPs in " +
      "`virtual_ipaddress_excluded`). Start-up: until every VIP is on some node, timed by the kernels' address notifications (`ip monitor`; a 500 ms poll of `ip addr` until round 9). Steady state: RSS and CPU per " +
      "node over `STEADY_WINDOW_S` seconds from `STEADY_SETTLE_MS` after start-up (vipd: every node ready; keepalived: every VIP held; 4 s and 3 s until round 22, when the window still ended before V8's memory reducer ran; bench/scale-common.ts; keepalived: parent + VRRP child). Crash: SIGKILL of the node holding the most VIPs (keepalived: node 1, whose instance has a third); each " +
      "VIP counts when the client captures its first unsolicited NA (IPv6) or gratuitous ARP (IPv4) from a survivor; the crash phase waits 30 s, then on while announcements still come (one within 3 s), up to 45 s, for both systems (a fixed 30 s until round 24; `CRASH_CAPS`). Reload: a config adding " +
      "one IPv4 VIP written to every node (vipd: file watch; keepalived: SIGHUP), until its first GARP. " +
      `Phases are capped in time; the run took ${r.durationS} s.`,
    "",
    table(
      [
        "system",
        "start-up to all held, ms",
        "RSS max, MB",
        "CPU max, %",
        "crash: VIPs re-announced",
        "detection, ms",
        "first NA, ms",
        "all NAs, ms",
        "all after detection, ms",
        "all after first, ms",
        "reload to GARP, ms",
      ],
      rows,
    ),
    "",
    `![crash re-announce](benchmarks/${file})`,
    "",
    table(
      ["vipd / keepalived", "ratio"],
      Object.entries(r.ratioVipdToKeepalived).map(([k, v]) => [k, v === null ? "—" : cell(v)]),
    ),
    "",
  ];
  const vipd = r.systems.vipd;
  if (vipd?.trace) {
    const t = vipd.trace;
    parts.push(
      "vipd's crash, phase by phase (survivors' logs, 1 ms resolution, and the client's capture; ms): " +
        "detection = SIGKILL to the first survivor declaring the victim dead; decision = to the first / last " +
        "survivor's takeover (the step that hands its adds to the kernel; results before round 21 timed the " +
        "per-VIP assignment lines, which come after the adds); netlink = first decision to the first / last " +
        "victim address added; send = last address added to the last first-announcement at the client.",
      "",
      table(
        ["detection", "decision first", "decision last", "netlink first", "netlink last", "send last"],
        [
          [
            ms(t.detectionMs),
            ms(t.decisionFirstMs),
            ms(t.decisionLastMs),
            ms(t.netlinkFirstMs),
            ms(t.netlinkLastMs),
            ms(t.sendLastMs),
          ],
        ],
      ),
      "",
    );
  }
  if (vipd?.reload?.trace) {
    const t = vipd.reload.trace;
    parts.push(
      "vipd's reload, phase by phase (log of the node that took the new VIP; ms after the write): " +
        `config loaded ${ms(t.configLoadedMs)}, VIP assigned ${ms(t.assignedMs)}, ARP probe done ` +
        `${ms(t.probedMs)}, address added ${ms(t.addedMs)}, first GARP at the client ${ms(vipd.reload.writeToGarpMs)}.`,
      "",
    );
  }
  if (vipd?.kernel) {
    const afterDetection = vipd.crash?.allAnnouncedAfterDetectionMs;
    parts.push(
      `The kernel's own time for the same adds (${vipd.kernel.note}; ${vipd.kernel.adds.join(" + ")} addresses): ` +
        `${vipd.kernel.addMs} ms. vipd's time after detection: ${ms(afterDetection)} ms` +
        (afterDetection === undefined
          ? "."
          : ` (${cell(Math.round((afterDetection / vipd.kernel.addMs) * 100) / 100)}× the kernel's).`),
      "",
    );
  }
  for (const [name, s] of sides) {
    if (s.membership)
      parts.push(
        `${name} membership during the run (all nodes' logs): ` +
          Object.entries(s.membership)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ") +
          ".",
        "",
      );
    const held = s.crash?.heldPerNodeAtKill;
    const heldTotal = held?.reduce((a, b) => a + b, 0) ?? 0;
    if (held && heldTotal > r.vips)
      // A crash is only a failover when the survivors did not hold the victim's VIPs already.
      parts.push(
        `${name} at the kill: its nodes held ${held.join(" + ")} = ${heldTotal} addresses for ${r.vips} VIPs ` +
          `(${heldTotal - r.vips} more than one holder per VIP: its instances flap at this scale), so its ` +
          "survivors may already have held part of the victim's share, and its crash figure times less than a failover.",
        "",
      );
    if (s.crashDiagnosis)
      parts.push(`${name}: the crash phase did not complete: \`${JSON.stringify(s.crashDiagnosis)}\``, "");
    if (s.reload?.note) parts.push(`${name} reload: ${s.reload.note}.`, "");
  }
  return parts.join("\n");
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function failoverSection(data: JsonObject): string {
  const result = data as unknown as FailoverResult;
  const provenance =
    `_Command: \`${result.command}\` · machine: ${result.machine.cores} cores (${result.machine.cpu}), ` +
    `Linux ${result.machine.kernel}, Node ${result.machine.node}, ${result.machine.keepalived} · date: ${result.at} · ` +
    `${roundsText(result)}, ${result.durationS} s in all_`;
  const parts = [
    "## Failover: vipd against keepalived",
    "",
    provenance,
    "",
    "One 3-node lab (network namespaces on one bridge), one run. Per round: the owner of the VIP is faulted, " +
      "the client's capture times the first gratuitous ARP from another node, and the client's UDP probes " +
      `(one every ${result.probeIntervalMs} ms, echoed by whichever node holds the VIP) count what was lost. ` +
      "The cluster is restored and settled between rounds. keepalived: one VRRP instance, priorities 100/99/98, " +
      "preemption on, `vrrp_garp_master_delay 0`, multicast on the lab bridge.",
    "",
    "### vipd / keepalived-tuned (same run)",
    "",
    table(
      ["scenario", "p50 ratio", "p99 ratio"],
      Object.entries(result.ratioVipdToKeepalivedTuned).map(([s, r]) => [
        result.scenarios[s] ?? s,
        cell(r.p50),
        cell(r.p99),
      ]),
    ),
    "",
  ];
  for (const scenario of Object.keys(result.scenarios)) {
    parts.push(`### ${result.scenarios[scenario]}`, "");
    const rows = Object.entries(result.systems).map(([name, s]) => {
      const d = s[scenario] as FailoverScenario;
      return [
        name,
        cell(d.failoverMs.p50),
        cell(d.failoverMs.p90),
        cell(d.failoverMs.p99),
        cell(d.failoverMs.max),
        cell(d.lostProbes.p50),
        cell(d.lostProbes.max),
      ];
    });
    parts.push(
      table(["system", "p50 ms", "p90 ms", "p99 ms", "max ms", "lost probes p50", "lost probes max"], rows),
      "",
    );
    const file = `failover-${scenario}.svg`;
    writeFileSync(join(CHARTS, file), failoverChart(result, scenario));
    parts.push(`![${result.scenarios[scenario]}](benchmarks/${file})`, "");
    const vipd = result.systems.vipd?.[scenario] as FailoverScenario | undefined;
    const traced = vipd?.rounds.flatMap((r) => (r.breakdown ? [r.breakdown] : [])) ?? [];
    if (traced.length > 0) {
      const median = (k: keyof NonNullable<FailoverRound["breakdown"]>): string => {
        const v = traced.map((b) => b[k]).sort((a, b) => a - b);
        return cell(v[Math.ceil(v.length / 2) - 1]);
      };
      const max = (k: keyof NonNullable<FailoverRound["breakdown"]>): string =>
        cell(Math.max(...traced.map((b) => b[k])));
      parts.push(
        `vipd's time by stage, from the new owner's log (${traced.length} rounds; ms, log times have 1 ms resolution):`,
        "",
        table(
          ["", "detection", "decision", "netlink", "send"],
          [
            ["median", median("detectionMs"), median("decisionMs"), median("netlinkMs"), median("sendMs")],
            ["max", max("detectionMs"), max("decisionMs"), max("netlinkMs"), max("sendMs")],
          ],
        ),
        "",
      );
    }
  }
  return parts.join("\n");
}

// ---- flap (npm run bench:flap) ----------------------------------------------------------------------

interface FlapCount {
  falseFailovers: number;
  falseDeaths?: number;
  suspicions?: number;
}
interface FlapCondition {
  description: string;
  nodes: number;
  windowS: number;
  systems: Record<string, FlapCount>;
  evidence: Record<string, number | string>;
}
interface FlapPhase {
  at: string;
  conditions: Record<string, FlapCondition>;
  failover?: FlapFailover & { at: string };
  /** Why the failover bench of this window has no results, when it has none. */
  failoverMissing?: string;
}
interface FlapFailover {
  source?: string;
  rounds: number;
  systems: Record<string, Record<string, { failoverMs: Record<string, number> }>>;
}
interface FlapResult {
  command: string;
  /** Failover on the (nominally) idle host with issue 13's detector, when recorded. */
  idleFailover?: FlapFailover;
  machine: { cores: number; cpu: string; kernel: string; node: string; keepalived: string };
  idle?: FlapPhase;
  saturated?: FlapPhase;
}

function flapSection(data: JsonObject): string {
  const result = data as unknown as FlapResult;
  const m = result.machine;
  const parts = [
    "## False failovers under stress: vipd against keepalived",
    "",
    `_Command: \`${result.command}\` (not part of \`npm run bench\`: it takes ~25 minutes) · machine: ${m.cores} ` +
      `cores (${m.cpu}), Linux ${m.kernel}, Node ${m.node}, ${m.keepalived}_`,
    "",
    "Each system runs in its own lab (network namespaces on one bridge), all systems of a condition at the " +
      "same time, for the whole window. A false failover is a node other than the owner taking the VIP while " +
      "the owner is alive: vipd's `addressAdded` on another node, keepalived's `Entering MASTER STATE` on a " +
      "backup. vipd runs its defaults (`lan`, `failureTimeoutMs` 150: heartbeats every 25 ms, verdict after " +
      "150 ms of silence); keepalived tuned is VRRPv3 `advert_int 0.1` (master down after ~361 ms), default " +
      "VRRPv2 `advert_int 1` (~3.6 s). Loss is dropped by nftables on every node's input; the pause is " +
      "SIGSTOP/SIGCONT of the owner's daemon (keepalived: its parent and VRRP processes), sent by a SCHED_RR " +
      "pauser that measures each pause. The phase without added load runs all its labs at once (12 labs, " +
      "36 daemons) on the 2-core machine, so it is not an idle host either; the saturated phase adds nproc+1 " +
      "busy processes and runs the failover bench (vipd and tuned keepalived, crash and link down) in the " +
      "same window, so its labs start and stop daemons throughout.",
    "",
  ];
  for (const phase of [result.idle, result.saturated]) {
    if (!phase) continue;
    const names = [...new Set(Object.values(phase.conditions).flatMap((c) => Object.keys(c.systems)))];
    parts.push(
      table(
        [
          "condition",
          "nodes",
          "window",
          ...names.map((n) => `${n} false failovers`),
          "vipd false deaths",
          "vipd suspicions",
          "evidence",
        ],
        Object.values(phase.conditions).map((c) => [
          c.description,
          String(c.nodes),
          `${c.windowS} s`,
          ...names.map((n) => cell(c.systems[n]?.falseFailovers)),
          cell(c.systems.vipd?.falseDeaths),
          cell(c.systems.vipd?.suspicions),
          Object.entries(c.evidence)
            .map(([k, v]) => `${k} ${cell(v)}`)
            .join(", "),
        ]),
      ),
      "",
      `_Window ended ${phase.at}._`,
      "",
    );
    if (phase.failover)
      parts.push(flapFailoverTable(phase.failover, "Failover on the saturated host, same window"));
    if (phase.failoverMissing)
      parts.push(`Failover on the saturated host: not measured: ${phase.failoverMissing}.`, "");
  }
  if (result.idleFailover)
    parts.push(
      flapFailoverTable(
        result.idleFailover,
        "Failover on the host without added load, with this detector (the Failover section above may predate it)",
      ),
    );
  return parts.join("\n");
}

function flapFailoverTable(f: FlapFailover, title: string): string {
  // A system's record also carries its description and VIP: only the entries with timings are scenarios.
  const scenarios = Object.entries(Object.values(f.systems)[0] ?? {})
    .filter(([, v]) => typeof v === "object" && v !== null && "failoverMs" in v)
    .map(([s]) => s);
  return [
    `${title} (${f.rounds} rounds per system and scenario, 3-node lab; ms from the fault to the first GARP of the new owner${f.source ? `; ${f.source}` : ""}):`,
    "",
    table(
      ["scenario", "system", "p50 ms", "p90 ms", "p99 ms", "max ms"],
      scenarios.flatMap((s) =>
        Object.entries(f.systems).map(([name, sys]) => {
          const d = sys[s]?.failoverMs ?? {};
          return [s, name, cell(d.p50), cell(d.p90), cell(d.p99), cell(d.max)];
        }),
      ),
    ),
    "",
  ].join("\n");
}

function main(): void {
  mkdirSync(CHARTS, { recursive: true });
  const files = readdirSync(RESULTS)
    .filter((f) => f.endsWith(".json"))
    .sort();
  const sections: string[] = [];
  const failover = files.includes("failover.json");
  if (failover)
    sections.push(failoverSection(JSON.parse(readFileSync(join(RESULTS, "failover.json"), "utf8"))));
  const special: Record<string, (data: JsonObject) => string> = {
    "gossip.json": gossipSection,
    "flap.json": flapSection,
  };
  for (const f of files.filter((name) => name !== "failover.json")) {
    const data = JSON.parse(readFileSync(join(RESULTS, f), "utf8")) as JsonObject;
    const name = f.replace(/\.json$/, "");
    if (/^scale(-|$)/.test(name)) sections.push(scaleSection(data, name));
    else sections.push(special[f]?.(data) ?? genericSection(name, data));
  }
  const doc = [
    "# vipd benchmarks",
    "",
    "Generated by `node dist/bench/report.js` (run last by `npm run bench`) from every JSON file in " +
      "`bench/results/`; do not edit by hand. Absolute times are noisy; the vipd/keepalived ratio from the " +
      "same run is the headline.",
    "",
    ...sections,
  ].join("\n");
  writeFileSync(join(DOCS, "benchmarks.md"), doc.trimEnd() + "\n");
  console.log(`docs/benchmarks.md: ${files.length} result files`);
}

main();

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
      if (k === "provenance") continue;
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
  [scenario: string]: FailoverScenario | string;
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
    `<text x="${left}" y="${height - 8}" fill="#666">dots: ${result.rounds} rounds each; bar: p50. ${escapeXml(result.machine.cores + " cores, Linux " + result.machine.kernel + ", " + result.at)}</text>`,
    "</svg>",
  );
  return out.join("\n") + "\n";
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function failoverSection(data: JsonObject): string {
  const result = data as unknown as FailoverResult;
  const provenance =
    `_Command: \`${result.command}\` · machine: ${result.machine.cores} cores (${result.machine.cpu}), ` +
    `Linux ${result.machine.kernel}, Node ${result.machine.node}, ${result.machine.keepalived} · date: ${result.at} · ` +
    `${result.rounds} rounds per system and scenario, ${result.durationS} s in all_`;
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

function main(): void {
  mkdirSync(CHARTS, { recursive: true });
  const files = readdirSync(RESULTS)
    .filter((f) => f.endsWith(".json"))
    .sort();
  const sections: string[] = [];
  const failover = files.includes("failover.json");
  if (failover)
    sections.push(failoverSection(JSON.parse(readFileSync(join(RESULTS, "failover.json"), "utf8"))));
  for (const f of files.filter((name) => name !== "failover.json")) {
    sections.push(
      genericSection(f.replace(/\.json$/, ""), JSON.parse(readFileSync(join(RESULTS, f), "utf8"))),
    );
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

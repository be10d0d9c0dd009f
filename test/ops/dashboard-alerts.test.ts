// The Grafana dashboard and the Prometheus alert rules shipped in etc/ (issue 16, point 9): promtool checks and
// unit-tests the rules, the dashboard is checked against Grafana's JSON model, and every metric either one
// queries must be one vipd exports (the registry the daemon serves on /metrics).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetrics } from "../../lib/daemon/metrics";
import { promtool } from "./promtool";

const repo = join(__dirname, "..", "..", "..");
const RULES = join(repo, "etc", "prometheus", "vipd-alerts.yml");
const RULE_TESTS = join(repo, "test", "ops", "vipd-alerts.test.yml");
const DASHBOARD = join(repo, "etc", "grafana", "vipd-dashboard.json");

/** Every series name a scrape of vipd can hold: histograms as their _bucket/_sum/_count series. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>(["up"]); // Prometheus' own per-target series
  for (const m of await createMetrics().registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers with a known prefix, or `up`. */
const metricsIn = (expr: string): string[] =>
  [...expr.matchAll(/\b((?:vipd|nodejs|process)_[a-z0-9_]+|up)\b(?!\s*\()/g)].map((m) => m[1] as string);

test("promtool check rules accepts the alert rules, and promtool test rules passes their unit tests", () => {
  const check = promtool(["check", "rules", RULES]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: \d+ rules found/);
  const unit = promtool(["test", "rules", RULE_TESTS]);
  assert.equal(unit.code, 0, unit.stdout + unit.stderr);
  assert.match(unit.stdout, /SUCCESS/);
});

test("every metric the alert rules use is one vipd exports", async () => {
  const exported = await exportedNames();
  const text = readFileSync(RULES, "utf8");
  const exprs = [...text.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1] as string);
  assert.ok(exprs.length >= 8, `${exprs.length} rules`);
  for (const expr of exprs) {
    const used = metricsIn(expr);
    assert.ok(used.length > 0, `${expr} queries a metric`);
    for (const name of used) assert.ok(exported.has(name), `rule ${expr}: ${name} is not exported by vipd`);
  }
});

interface Panel {
  id: unknown;
  type: unknown;
  title: unknown;
  datasource?: { type?: unknown; uid?: unknown };
  gridPos?: { x: unknown; y: unknown; w: unknown; h: unknown };
  targets?: { refId?: unknown; expr?: unknown; datasource?: { type?: unknown; uid?: unknown } }[];
}

test("the dashboard follows Grafana's JSON model and queries only metrics vipd exports", async () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    title: unknown;
    uid: unknown;
    schemaVersion: unknown;
    panels: Panel[];
    templating: { list: { name: string; type: string }[] };
  };
  assert.equal(typeof dashboard.title, "string");
  assert.match(String(dashboard.uid), /^[a-zA-Z0-9_-]{1,40}$/, "uid: at most 40 characters of [a-zA-Z0-9_-]");
  assert.ok(
    typeof dashboard.schemaVersion === "number" && dashboard.schemaVersion >= 36,
    "a current schemaVersion",
  );
  const variables = new Set(dashboard.templating.list.map((v) => v.name));
  assert.ok(variables.has("datasource") && variables.has("instance"));
  const exported = await exportedNames();
  const ids = new Set<unknown>();
  const cells = new Set<string>();
  const exprs: string[] = [];
  assert.ok(dashboard.panels.length >= 10, `${dashboard.panels.length} panels`);
  for (const panel of dashboard.panels) {
    const name = String(panel.title);
    assert.ok(Number.isInteger(panel.id) && !ids.has(panel.id), `${name}: a unique integer id`);
    ids.add(panel.id);
    assert.ok(
      ["stat", "timeseries", "bargauge", "table", "gauge"].includes(String(panel.type)),
      `${name}: panel type`,
    );
    assert.equal(panel.datasource?.type, "prometheus", `${name}: datasource`);
    assert.equal(panel.datasource?.uid, "${datasource}", `${name}: datasource follows the variable`);
    const g = panel.gridPos;
    assert.ok(g, `${name}: gridPos`);
    for (const v of [g.x, g.y, g.w, g.h])
      assert.ok(Number.isInteger(v) && (v as number) >= 0, `${name}: gridPos`);
    const [x, y, w, h] = [g.x, g.y, g.w, g.h] as number[];
    assert.ok(w > 0 && h > 0 && x + w <= 24, `${name}: fits the 24-column grid`);
    for (let cx = x; cx < x + w; cx++)
      for (let cy = y; cy < y + h; cy++) {
        assert.ok(!cells.has(`${cx},${cy}`), `${name}: overlaps another panel at ${cx},${cy}`);
        cells.add(`${cx},${cy}`);
      }
    assert.ok((panel.targets ?? []).length > 0, `${name}: targets`);
    const refIds = new Set<unknown>();
    for (const target of panel.targets ?? []) {
      assert.ok(typeof target.refId === "string" && !refIds.has(target.refId), `${name}: unique refId`);
      refIds.add(target.refId);
      assert.equal(target.datasource?.uid, "${datasource}", `${name}: target datasource`);
      assert.equal(typeof target.expr, "string");
      const expr = target.expr as string;
      for (const v of expr.matchAll(/\$(\w+)/g))
        assert.ok(
          v[1] === "__rate_interval" || variables.has(v[1] as string),
          `${name}: $${v[1]} is defined`,
        );
      const used = metricsIn(expr);
      assert.ok(used.length > 0, `${name}: ${expr} queries a metric`);
      for (const metric of used)
        assert.ok(exported.has(metric), `${name}: ${metric} is not exported by vipd`);
      exprs.push(expr);
    }
  }
  // Every query must be valid PromQL: promtool parses them as recording rules, variables filled in.
  const dir = mkdtempSync(join(tmpdir(), "vipd-dashboard-"));
  const rules = exprs.map(
    (expr, i) =>
      `      - record: dashboard:query${i}\n        expr: ${JSON.stringify(expr.replaceAll("$__rate_interval", "5m").replaceAll("$instance", ".*"))}`,
  );
  writeFileSync(join(dir, "queries.yml"), `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
  const check = promtool(["check", "rules", join(dir, "queries.yml")]);
  assert.equal(check.code, 0, check.stdout + check.stderr);
});

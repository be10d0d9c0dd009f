// Log-level control (issue 16, point 6): the log.level setting and --log-level, checked like every other
// setting, and the logger dropping lines below the level.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSettings } from "../../lib/config/settings";
import { formatDiagnostic } from "../../lib/config/diagnostics";
import { createLogger, type LogLevel } from "../../lib/daemon/log";
import { EventLog } from "../../lib/daemon/event-log";

test("log.level defaults to info, is read from the file, and --log-level overrides it", () => {
  assert.equal(parseSettings(undefined, "v.yaml", {}, "h").settings?.log.level, "info");
  assert.equal(parseSettings("log:\n  level: warn\n", "v.yaml", {}, "h").settings?.log.level, "warn");
  assert.equal(
    parseSettings("log:\n  level: warn\n", "v.yaml", { logLevel: "debug" }, "h").settings?.log.level,
    "debug",
  );
});

test("a bad level is an error naming the file and line, or the flag", () => {
  const fromFile = parseSettings("nodeName: n\nlog:\n  level: verbose\n", "v.yaml", {}, "h");
  assert.equal(fromFile.settings, undefined);
  assert.deepEqual(fromFile.diagnostics.map(formatDiagnostic), [
    'v.yaml:3:10: error: log.level: expected one of debug, info, warn, error, got string "verbose"',
  ]);
  const fromFlag = parseSettings(undefined, "v.yaml", { logLevel: "loud" }, "h");
  assert.match(fromFlag.diagnostics.map(formatDiagnostic).join("\n"), /--log-level: expected one of/);
});

test("the logger writes only lines at or above its level", () => {
  const levels: LogLevel[] = ["debug", "info", "warn", "error"];
  for (const [i, min] of levels.entries()) {
    const lines: string[] = [];
    const logger = createLogger({ write: (s: string) => lines.push(s) }, min);
    for (const level of levels) logger.log(level, "e", `at ${level}`);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { level: string }).level),
      levels.slice(i),
      `minimum ${min}`,
    );
  }
});

test("a quiet plan event is logged at debug and still kept among the recent events", () => {
  const lines: string[] = [];
  const events = new EventLog(createLogger({ write: (s: string) => lines.push(s) }, "debug"));
  const move = { reason: "nodeAssigned", message: 'announcing from node "b"', fields: { to: "b" } };
  events.fromPlan({ level: "event", ...move, quiet: true, ip: "198.51.100.5" });
  events.fromPlan({ level: "event", ...move, ip: "198.51.100.6" });
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { level: string }).level),
    ["debug", "info"],
  );
  assert.deepEqual(
    events.recent().map((e) => e.ip),
    ["198.51.100.5", "198.51.100.6"],
  );
});

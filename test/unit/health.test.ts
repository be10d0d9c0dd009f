import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCheck } from "../../lib/health/checkers";
import { HealthMonitor } from "../../lib/health/monitor";
import { parseDuration, parseHealthCheck, type HealthCheckSpec } from "../../lib/health/spec";
import { nextHealth, PENDING, type HealthState, type HealthStatus } from "../../lib/health/state";
import { errors, parse, pool, service, docs } from "./config-helpers";

test("health annotations: targets, defaults, durations, counts", () => {
  const ok = parseHealthCheck({ "vipd.io/health-check": "tcp://127.0.0.1:53" });
  assert.deepEqual(ok.spec, {
    text: "tcp://127.0.0.1:53",
    target: { kind: "tcp", host: "127.0.0.1", port: 53 },
    intervalMs: 1000,
    timeoutMs: 1000,
    rise: 2,
    fall: 2,
  });
  const all = parseHealthCheck({
    "vipd.io/health-check": "http://127.0.0.1:8080/healthz",
    "vipd.io/health-interval": "500ms",
    "vipd.io/health-timeout": "1.5s",
    "vipd.io/health-rise": "3",
    "vipd.io/health-fall": "1",
  }).spec;
  assert.deepEqual(
    [all?.target, all?.intervalMs, all?.timeoutMs, all?.rise, all?.fall],
    [{ kind: "http", url: "http://127.0.0.1:8080/healthz" }, 500, 1500, 3, 1],
  );
  assert.deepEqual(
    parseHealthCheck({ "vipd.io/health-check": "exec:/usr/local/bin/check -q" }).spec?.target,
    {
      kind: "exec",
      path: "/usr/local/bin/check",
      args: ["-q"],
    },
  );
  assert.deepEqual(parseHealthCheck({}), { errors: [] });
  const rows: [Record<string, string>, RegExp][] = [
    [{ "vipd.io/health-check": "udp://1.2.3.4:5" }, /health-check: "udp:\/\/1.2.3.4:5": expected tcp/],
    [{ "vipd.io/health-check": "tcp://127.0.0.1" }, /is not host:port/],
    [{ "vipd.io/health-check": "tcp://127.0.0.1:0" }, /port 0 is out of range/],
    [{ "vipd.io/health-check": "exec:check" }, /exec needs an absolute path/],
    [
      { "vipd.io/health-check": "tcp://127.0.0.1:1", "vipd.io/health-interval": "1" },
      /health-interval: "1" is not a duration/,
    ],
    [
      { "vipd.io/health-check": "tcp://127.0.0.1:1", "vipd.io/health-interval": "10ms" },
      /out of range 100ms\.\.1h/,
    ],
    [
      { "vipd.io/health-check": "tcp://127.0.0.1:1", "vipd.io/health-fall": "0" },
      /health-fall: "0" is not a count/,
    ],
    [{ "vipd.io/health-rise": "2" }, /health-rise: has no effect without vipd.io\/health-check/],
  ];
  for (const [annotations, message] of rows) {
    const result = parseHealthCheck(annotations);
    assert.equal(result.spec, undefined, JSON.stringify(annotations));
    assert.match(result.errors.map((e) => e.message).join("\n"), message);
  }
  assert.deepEqual(["250ms", "2s", "1.5s", "1m", "1h", " 3s "].map(parseDuration), [
    250,
    2000,
    1500,
    60000,
    undefined,
    3000,
  ]);
});

test("health annotations in manifests: positioned errors and the parsed check on the Service", () => {
  const manifest = (annotations: Record<string, string>): string =>
    docs(pool("p", ["10.0.0.0/24"]), service("web", { annotations }));
  const good = parse(manifest({ "vipd.io/health-check": "tcp://127.0.0.1:80" }));
  assert.deepEqual(errors(good), []);
  assert.equal(good.config?.services[0]?.healthCheck?.target.kind, "tcp");
  const text = manifest({ "vipd.io/health-check": "tcp://127.0.0.1:80", "vipd.io/health-fall": "x" });
  const bad = errors(parse(text));
  assert.equal(bad.length, 1);
  assert.match(bad[0]?.message ?? "", /annotation vipd\.io\/health-fall: "x" is not a count in 1\.\.100/);
  assert.equal(bad[0]?.object, "Service/default/web");
  assert.equal(bad[0]?.source?.line, text.split("\n").findIndex((l) => l.includes("health-fall")) + 1);
  const typo = parse(manifest({ "vipd.io/health-chek": "tcp://127.0.0.1:80" }));
  assert.match(typo.diagnostics.map((d) => d.message).join("\n"), /did you mean "vipd.io\/health-check"/);
});

test("rise/fall state machine", () => {
  const t = { rise: 2, fall: 3 };
  const rows: { name: string; results: boolean[]; statuses: HealthStatus[] }[] = [
    { name: "first pass decides at once", results: [true], statuses: ["up"] },
    { name: "first failure decides at once", results: [false], statuses: ["down"] },
    {
      name: "fall consecutive failures to go down",
      results: [true, false, false, false],
      statuses: ["up", "up", "up", "down"],
    },
    {
      name: "a pass resets the failing streak",
      results: [true, false, false, true, false, false],
      statuses: ["up", "up", "up", "up", "up", "up"],
    },
    {
      name: "rise consecutive passes to come up",
      results: [false, true, true],
      statuses: ["down", "down", "up"],
    },
    {
      name: "a failure resets the rising streak",
      results: [false, true, false, true, true],
      statuses: ["down", "down", "down", "down", "up"],
    },
  ];
  for (const row of rows) {
    let state: HealthState = PENDING;
    const seen = row.results.map(
      (ok) => (state = nextHealth(state, { ok, detail: "connect ECONNREFUSED" }, t)).status,
    );
    assert.deepEqual(seen, row.statuses, row.name);
  }
  const down = nextHealth(PENDING, { ok: false, detail: "HTTP 503" }, t);
  assert.equal(down.detail, "HTTP 503");
  assert.equal(nextHealth(down, { ok: true }, t).detail, "HTTP 503", "still down: the reason stays");
});

test("checkers: tcp, http and exec, each bounded by its timeout", async () => {
  const server = createServer((s) => s.end()).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const port = (server.address() as AddressInfo).port;
  assert.deepEqual(await runCheck({ kind: "tcp", host: "127.0.0.1", port }, 500), { ok: true });
  server.close();
  await new Promise((r) => setTimeout(r, 20));
  const refused = await runCheck({ kind: "tcp", host: "127.0.0.1", port }, 500);
  assert.deepEqual(refused, { ok: false, detail: "connect ECONNREFUSED" });

  let code = 200;
  const hang = new Set<string>();
  const web = createHttpServer((req, res) => {
    if (hang.has(req.url ?? "")) return; // never answers
    res.statusCode = code;
    res.end("x");
  }).listen(0, "127.0.0.1");
  await new Promise((r) => web.once("listening", r));
  const base = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  assert.deepEqual(await runCheck({ kind: "http", url: `${base}/healthz` }, 500), { ok: true });
  code = 503;
  assert.deepEqual(await runCheck({ kind: "http", url: `${base}/healthz` }, 500), {
    ok: false,
    detail: "HTTP 503",
  });
  hang.add("/slow");
  const started = Date.now();
  assert.deepEqual(await runCheck({ kind: "http", url: `${base}/slow` }, 200), {
    ok: false,
    detail: "no response within 200 ms",
  });
  assert.ok(Date.now() - started < 1000);
  web.closeAllConnections();
  web.close();

  const dir = mkdtempSync(join(tmpdir(), "vipd-health-"));
  try {
    const script = (name: string, body: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    assert.deepEqual(await runCheck({ kind: "exec", path: script("ok", "exit 0"), args: [] }, 1000), {
      ok: true,
    });
    assert.deepEqual(
      await runCheck({ kind: "exec", path: script("bad", "echo resolver down >&2; exit 3"), args: [] }, 1000),
      { ok: false, detail: "exit status 3: resolver down" },
    );
    const chatty = await runCheck(
      {
        kind: "exec",
        path: script("chatty", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo tail; exit 1"),
        args: [],
      },
      5000,
    );
    assert.deepEqual(
      chatty,
      { ok: false, detail: "exit status 1: tail" },
      "big output is bounded, the tail kept",
    );
    const t0 = Date.now();
    const slow = await runCheck({ kind: "exec", path: script("slow", "sleep 5"), args: [] }, 200);
    assert.deepEqual(slow, { ok: false, detail: "timed out after 200 ms" });
    assert.ok(Date.now() - t0 < 1500);
    assert.match(
      (await runCheck({ kind: "exec", path: join(dir, "missing"), args: [] }, 500)).detail ?? "",
      /ENOENT/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("monitor: never runs a check in parallel with itself, reports changes, first round", async () => {
  const spec: HealthCheckSpec = {
    text: "tcp://127.0.0.1:1",
    target: { kind: "tcp", host: "127.0.0.1", port: 1 },
    intervalMs: 100,
    timeoutMs: 100,
    rise: 1,
    fall: 1,
  };
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  let healthy = true;
  const monitor = new HealthMonitor(async () => {
    running++;
    calls++;
    maxRunning = Math.max(maxRunning, running);
    // Slower than the interval: the next run must wait for this one.
    await new Promise((r) => setTimeout(r, 150));
    running--;
    return healthy ? { ok: true } : { ok: false, detail: "down" };
  });
  const changes: string[] = [];
  monitor.onChange((e) => changes.push(`${e.service}:${e.state.status}`));
  monitor.setChecks(new Map([["default/web", spec]]));
  assert.equal(monitor.state("default/web")?.state.status, "pending");
  await monitor.firstRound(1000);
  assert.equal(monitor.state("default/web")?.state.status, "up");
  healthy = false;
  await new Promise((r) => setTimeout(r, 500));
  monitor.close();
  assert.equal(maxRunning, 1);
  assert.ok(calls >= 3 && calls <= 5, `${calls} runs in 650 ms at 150 ms each`);
  assert.deepEqual(changes, ["default/web:up", "default/web:down"]);
});

// The command line as an operator meets it (issue 16, point 6): version, per-command help, usage errors with
// exit 2, a bare `vipd` that does not start a daemon, and a status that says what to do when the daemon is down.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";

const repo = join(__dirname, "..", "..", "..");
const vipd = join(repo, "dist", "daemon", "vipd.js");
const { version } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string };

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [vipd, ...args], { encoding: "utf8", cwd: repo, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("--version and version print the version, the git revision and Node's version", () => {
  for (const args of [["--version"], ["version"]]) {
    const r = run(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^vipd ${version.replaceAll(".", "\\.")} \\(revision [0-9a-f]{12}(-dirty)?, node ${process.versions.node}\\)\\n$`,
      ),
    );
  }
});

test("a bare vipd prints the usage and exits 2 instead of starting a daemon", () => {
  const r = run();
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^usage: vipd <command>/);
  assert.match(r.stderr, /the daemon\s+starts only with `vipd run`/);
  const flagsOnly = run("--config", "/etc/vipd/vipd.yaml");
  assert.equal(flagsOnly.code, 2);
  assert.match(flagsOnly.stderr, /to start the daemon: vipd run --config \/etc\/vipd\/vipd\.yaml/);
  const typo = run("stauts");
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown command "stauts" \(did you mean "status"\?\)/);
});

test("every command has its own --help, and status's mentions --ip", () => {
  const seen = new Set<string>();
  for (const command of ["run", "validate", "status", "keygen", "version"]) {
    const r = run(command, "--help");
    assert.equal(r.code, 0, `${command} --help`);
    assert.match(r.stdout, new RegExp(`^usage: vipd ${command}`), `${command} --help is about ${command}`);
    assert.equal(run("help", command).stdout, r.stdout, `vipd help ${command}`);
    seen.add(r.stdout);
  }
  assert.equal(seen.size, 5, "five different texts");
  assert.match(run("status", "--help").stdout, /--ip IP\s+explain one VIP/);
  assert.match(run("run", "--help").stdout, /--log-level LEVEL/);
  assert.match(run("--help").stdout, /status\s+show who announces which IP \(--ip IP/);
});

test("flag mistakes exit 2 and point at the command's help", () => {
  const unknown = run("validate", "--bogus");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /vipd validate: Unknown option '--bogus'\nSee: vipd validate --help/);
  const banana = run("status", "--ip", "banana");
  assert.equal(banana.code, 2);
  assert.match(banana.stderr, /--ip "banana" is not an IP address/);
});

test("with the daemon down, status names the address it tried and what to check", async () => {
  // A loopback port that was free a moment ago: nothing listens there.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  const r = run("status", "--address", `http://127.0.0.1:${port}`);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`cannot reach the daemon at http://127\\.0\\.0\\.1:${port}/status: connection refused`),
  );
  assert.match(r.stderr, /systemctl status vipd/);
  assert.match(r.stderr, /journalctl -u vipd/);
});

test("--log-level and log.level are validated", () => {
  const flag = run("validate", "--config", "etc/vipd/vipd.yaml", "--log-level", "loud");
  assert.equal(flag.code, 1);
  assert.match(flag.stderr, /--log-level: expected one of debug, info, warn, error, got string "loud"/);
  assert.equal(run("validate", "--config", "etc/vipd/vipd.yaml", "--log-level", "debug").code, 0);
});

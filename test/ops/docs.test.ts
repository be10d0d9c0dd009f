// README and docs/operations.md (issue 16, points 7 and 8): the README opens with its two commands, run as
// root without sudo; the operations guide covers what an operator needs and agrees with the code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SETTINGS } from "../../lib/config/settings";

const repo = join(__dirname, "..", "..", "..");
const read = (path: string): string => readFileSync(join(repo, path), "utf8");

test("the README starts with exactly two commands, run as root, without sudo", () => {
  const readme = read("README.md");
  const first = /```sh\n([\s\S]*?)```/.exec(readme);
  assert.ok(first, "a first shell block");
  assert.ok(readme.indexOf(first[0]) < readme.indexOf("\n## "), "before the first section");
  const commands = first[1].trim().split("\n");
  assert.equal(commands.length, 2);
  assert.match(commands[0] ?? "", /^npm ci && npm run lab\s+# as root/);
  assert.match(commands[1] ?? "", /^npm ci && npm test\s+# as root/);
  for (const c of commands) assert.doesNotMatch(c, /\bsudo\b/);
  assert.match(readme, /\[docs\/operations\.md\]\(docs\/operations\.md\)/);
});

test("docs/operations.md covers ports, ARP sysctls, firewalls, status and events, and common errors", () => {
  const doc = read("docs/operations.md");
  for (const heading of [
    "## Ports",
    "## Firewalls",
    "## ARP sysctls",
    "## Reading `vipd status`",
    "## Common errors",
  ])
    assert.ok(doc.includes(heading), heading);
  const gossipPort = String(SETTINGS.find((r) => r.key === "cluster.bind")?.default("h")).split(":")[1];
  const metricsPort = String(SETTINGS.find((r) => r.key === "metrics.listen")?.default("h")).split(":")[1];
  assert.match(
    doc,
    new RegExp(`\\| ${gossipPort}\\s+\\| UDP `),
    "the gossip port is the default of cluster.bind",
  );
  assert.match(
    doc,
    new RegExp(`\\| ${metricsPort}\\s+\\| TCP `),
    "the metrics port is the default of metrics.listen",
  );
  assert.match(doc, /net\.ipv4\.conf\.all\.arp_ignore = 1/);
  assert.match(doc, /net\.ipv4\.conf\.all\.arp_announce = 2/);
  assert.match(
    doc,
    /^AGE\s+REASON\s+IP\s+SERVICE\s+MESSAGE$/m,
    "the EVENTS example has the IP and SERVICE columns",
  );
  // Every shipped alert has a line saying what to do.
  const alerts = [...read("etc/prometheus/vipd-alerts.yml").matchAll(/- alert: (\w+)/g)].map(
    (m) => m[1] as string,
  );
  assert.ok(alerts.length >= 8);
  for (const alert of alerts)
    assert.match(doc, new RegExp(`\\| \`${alert}\`\\s+\\|`), `${alert} is explained`);
});

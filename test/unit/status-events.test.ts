// `vipd status` EVENTS (issue 16, point 3): each line names the IP and the service, so two
// "announcing from node X" events for different VIPs can be told apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderStatus } from "../../lib/cli/status-report";
import type { DaemonStatus } from "../../lib/daemon/status-types";

test("EVENTS lines carry the IP and the service of the event", () => {
  const now = new Date("2026-01-01T12:00:00Z");
  const status: DaemonStatus = {
    node: "node-a",
    version: "0.1.0",
    startedAt: "2026-01-01T11:00:00Z",
    ready: true,
    config: { loaded: true, stale: false, lastReload: null, digest: "0123456789abcdef", errors: [] },
    members: [],
    vips: [],
    allocationErrors: [],
    warnings: [],
    events: [
      {
        time: "2026-01-01T11:59:50Z",
        reason: "nodeAssigned",
        message: 'announcing from node "node-b" with protocol "layer2"',
        ip: "198.51.100.50",
        service: "kube-system/traefik",
      },
      {
        time: "2026-01-01T11:59:55Z",
        reason: "nodeAssigned",
        message: 'announcing from node "node-b" with protocol "layer2"',
        ip: "198.51.100.6",
        service: "default/dns-tcp",
      },
      { time: "2026-01-01T11:59:58Z", reason: "memberDead", message: "node-c (198.51.100.3:7946) is dead" },
    ],
  };
  const text = renderStatus(status, now);
  assert.match(text, /^AGE\s+REASON\s+IP\s+SERVICE\s+MESSAGE$/m);
  assert.match(
    text,
    /^10s\s+nodeAssigned\s+198\.51\.100\.50\s+kube-system\/traefik\s+announcing from node "node-b"/m,
  );
  assert.match(
    text,
    /^5s\s+nodeAssigned\s+198\.51\.100\.6\s+default\/dns-tcp\s+announcing from node "node-b"/m,
  );
  assert.match(text, /^2s\s+memberDead\s+node-c \(198\.51\.100\.3:7946\) is dead$/m);
});

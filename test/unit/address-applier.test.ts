import assert from "node:assert/strict";
import { test } from "node:test";
import type { LinkInfo } from "../../lib/net/links";
import type { NetlinkWatch } from "../../lib/net/netlink-watch";
import type { PlacementFailure, VipAddresses, VipPlacement } from "../../lib/net/vip-addresses";
import { AddressApplier, type ApplyResult } from "../../lib/net/address-applier";

const eth0: LinkInfo = {
  index: 2,
  name: "eth0",
  mac: "02:00:00:00:01:01",
  up: true,
  noarp: false,
  loopback: false,
  operstate: "up",
  carrier: true,
  kind: "veth",
};

/** A watch with one link and no addresses; the applier only reads it. */
const watch = {
  onChange: () => () => {},
  snapshot: () => ({ links: [eth0], addresses: [] }),
  link: (nameOrIndex: string | number) => (nameOrIndex === "eth0" || nameOrIndex === 2 ? eth0 : undefined),
} as unknown as NetlinkWatch;

/** The kernel acknowledges each add only when the test says so. */
class SlowAddresses {
  readonly proto = 0x56;
  readonly acks: Array<() => void> = [];
  add(placements: readonly VipPlacement[], onAdded?: (p: VipPlacement) => void): Promise<PlacementFailure[]> {
    return Promise.all(
      placements.map(
        (p) =>
          new Promise<void>((resolve) =>
            this.acks.push(() => {
              onAdded?.(p);
              resolve();
            }),
          ),
      ),
    ).then(() => []);
  }
  remove(): Promise<PlacementFailure[]> {
    return Promise.resolve([]);
  }
}

test("each added address is reported as soon as the kernel confirms it, not after the whole batch", async () => {
  const addresses = new SlowAddresses();
  const reports: ApplyResult[] = [];
  const applier = new AddressApplier(watch, addresses as unknown as VipAddresses, (r) => reports.push(r));
  const vips = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
  const done = applier.setWanted(new Map(vips.map((ip) => [ip, "eth0"])));
  await new Promise((r) => setImmediate(r));
  assert.equal(addresses.acks.length, 3, "all three requested at once (pipelined)");
  addresses.acks[0]();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    reports.flatMap((r) => r.added.map((a) => a.ip)),
    ["198.51.100.1"],
    "the first is reported while two are still unacknowledged",
  );
  addresses.acks[2]();
  addresses.acks[1]();
  await done;
  assert.deepEqual(
    reports.flatMap((r) => r.added.map((a) => a.ip)),
    ["198.51.100.1", "198.51.100.3", "198.51.100.2"],
  );
  assert.ok(reports.every((r) => r.failed.length === 0 && r.removed.length === 0));
  applier.stop();
});

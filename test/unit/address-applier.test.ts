// The address applier against fake kernels: per-address reports, the observed view, divergences with their
// reason, retry backoff, and the safety nets for changes whose notification never came (the "deleted VIPs
// stayed missing" report of issue 12).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AddressInfo, LinkInfo } from "../../lib/net/links";
import type { ChangeListener, NetlinkWatch } from "../../lib/net/netlink-watch";
import type { PlacementFailure, VipAddresses, VipPlacement } from "../../lib/net/vip-addresses";
import { AddressApplier, type ApplyResult } from "../../lib/net/address-applier";
import { errorCode } from "../../lib/net/vip-addresses";

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
  hasAddress: () => false,
  holdsNotifications: false,
  address: () => undefined,
  eachAddress: () => [][Symbol.iterator](),
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
  const applier = new AddressApplier(watch, addresses as unknown as VipAddresses, (r) => reports.push(r), {
    verifyMs: 0,
  });
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

const PROTO = 0x56;
const key = (ip: string, index: number): string => `${index}|${ip}`;

/** A kernel with one link; notifications can be withheld to model lost ones. */
class FakeKernel {
  readonly kernel = new Map<string, AddressInfo>();
  readonly view = new Map<string, AddressInfo>();
  readonly listeners = new Set<ChangeListener>();
  notify = true;
  addError: string | undefined;
  /** The add lands but its acknowledgement is lost (the caller sees this error). */
  lostAck: string | undefined;
  /** Someone deletes each added address right after its notification, before its acknowledgement. */
  deleteBeforeAck = false;
  adds = 0;

  readonly watch = {
    onChange: (l: ChangeListener) => {
      this.listeners.add(l);
      return () => this.listeners.delete(l);
    },
    snapshot: () => ({ links: [eth0], addresses: [...this.view.values()] }),
    link: (n: string | number) => (n === eth0.name || n === eth0.index ? eth0 : undefined),
    hasAddress: (ip: string, index: number) => this.view.has(key(ip, index)),
    holdsNotifications: false,
    address: (ip: string, index: number) => this.view.get(key(ip, index)),
    eachAddress: () => this.view.values(),
    refresh: () => {
      for (const [k, a] of [...this.view]) if (!this.kernel.has(k)) this.emit("del", a);
      for (const [k, a] of this.kernel) if (!this.view.has(k)) this.emit("new", a);
      return Promise.resolve(true);
    },
  } as unknown as NetlinkWatch;

  readonly addresses = {
    proto: PROTO,
    add: (
      list: readonly VipPlacement[],
      onAdded?: (p: VipPlacement) => void,
    ): Promise<PlacementFailure[]> => {
      const failures: PlacementFailure[] = [];
      for (const p of list) {
        this.adds++;
        if (this.addError) failures.push({ ...p, error: this.addError });
        else if (this.lostAck) {
          this.set("new", p.ip);
          failures.push({ ...p, error: this.lostAck });
        } else {
          this.set("new", p.ip);
          if (this.deleteBeforeAck) this.set("del", p.ip);
          onAdded?.(p);
        }
      }
      return Promise.resolve(failures);
    },
    remove: (list: readonly VipPlacement[]): Promise<PlacementFailure[]> => {
      for (const p of list) this.set("del", p.ip);
      return Promise.resolve([]);
    },
  } as unknown as VipAddresses;

  set(change: "new" | "del", ip: string): void {
    const a: AddressInfo = {
      index: eth0.index,
      family: ip.includes(":") ? 6 : 4,
      ip,
      prefixlen: ip.includes(":") ? 128 : 32,
      proto: PROTO,
      tentative: false,
    } as AddressInfo;
    if (change === "new") this.kernel.set(key(ip, a.index), a);
    else this.kernel.delete(key(ip, a.index));
    if (this.notify) this.emit(change, a);
  }

  private emit(change: "new" | "del", a: AddressInfo): void {
    if (change === "new") this.view.set(key(a.ip, a.index), a);
    else this.view.delete(key(a.ip, a.index));
    for (const l of this.listeners) l({ kind: "address", change, address: a });
  }
}

const until = async (what: string, cond: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

test("observed follows the kernel; an external delete is repaired from its notification", async () => {
  const k = new FakeKernel();
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 0 });
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  assert.equal(r.observed("198.51.100.1"), true);
  k.set("del", "198.51.100.1");
  assert.equal(r.observed("198.51.100.1"), false, "observed the moment the kernel says so");
  await until("repair", () => r.observed("198.51.100.1"));
  assert.deepEqual(r.divergences(), []);
  r.stop();
});

test("an add whose notification never comes, then a delete whose notification is lost: repaired", async () => {
  const k = new FakeKernel();
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 50, unconfirmedMs: 30 });
  k.notify = false;
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  assert.equal(k.kernel.size, 1, "added in the kernel");
  assert.equal(r.observed("198.51.100.1"), false, "not observed: nothing said so");
  k.set("del", "198.51.100.1"); // lost too
  // Before the fix the pass trusted its unconfirmed add forever: nothing was ever re-added.
  await until("kernel holds it again", () => k.kernel.size === 1 && r.observed("198.51.100.1"));
  assert.ok(r.verifies > 0, "found by the periodic compare");
  r.stop();
});

test("failing adds: divergence with the errno, retried with backoff (not a busy loop), counted per attempt", async () => {
  const k = new FakeKernel();
  k.addError = "EPERM";
  const r = new AddressApplier(k.watch, k.addresses, () => {}, {
    verifyMs: 0,
    retryMinMs: 20,
    retryMaxMs: 80,
  });
  const t0 = Date.now();
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  await until("4 attempts", () => k.adds >= 4);
  const elapsed = Date.now() - t0;
  assert.ok(elapsed >= 20 + 40 + 80 - 15, `backoff: 4 attempts after ${elapsed} ms`);
  const [d] = r.divergences();
  assert.equal(d?.ip, "198.51.100.1");
  assert.equal(d?.reason, "add failed: EPERM");
  assert.ok((d?.failures ?? 0) >= 4);
  k.addError = undefined;
  await until("added once the kernel accepts", () => r.observed("198.51.100.1"), 1000);
  assert.deepEqual(r.divergences(), []);
  r.stop();
});

test("an add that landed although its acknowledgement was lost is reported (so announced) once it is seen", async () => {
  const k = new FakeKernel();
  k.lostAck = "ETIMEDOUT";
  const reports: ApplyResult[] = [];
  const r = new AddressApplier(k.watch, k.addresses, (x) => reports.push(x), {
    verifyMs: 0,
    retryMinMs: 20,
    retryMaxMs: 80,
  });
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  assert.deepEqual(
    reports.flatMap((x) => x.failed.map((f) => f.error)),
    ["ETIMEDOUT"],
  );
  k.lostAck = undefined;
  await until("reported as added", () => reports.some((x) => x.added.length > 0));
  assert.deepEqual(
    reports.flatMap((x) => x.added),
    [{ ip: "198.51.100.1", ifname: "eth0", repaired: false }],
    "reported once, without a second add",
  );
  assert.equal(k.adds, 1, "the kernel had it: no second add");
  assert.deepEqual(r.divergences(), []);
  r.stop();
});

test("start-up: the first setWanted removes stale marked addresses even with nothing wanted; later unchanged sets cost no pass", async () => {
  const k = new FakeKernel();
  k.set("new", "198.51.100.60"); // left by a vipd killed with -9
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 0 });
  await r.setWanted(new Map());
  assert.equal(k.kernel.size, 0, "the stale address is gone");
  k.notify = false;
  k.set("new", "198.51.100.61"); // a change nobody reported: only a notification or the compare would find it
  await r.setWanted(new Map());
  assert.equal(k.kernel.size, 1, "an unchanged wanted set starts no pass of its own");
  r.stop();
});

test("a trial add that works leaves nothing behind", async () => {
  const k = new FakeKernel();
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 0 });
  assert.equal(await r.trial("198.51.100.9", "eth0"), undefined);
  assert.equal(k.kernel.size, 0);
  k.addError = "EACCES";
  assert.equal(await r.trial("198.51.100.9", "eth0"), "EACCES");
  assert.equal(await r.trial("198.51.100.9", "eth9"), "interface eth9 does not exist");
  r.stop();
});

test("a request the kernel never acknowledges ends as ETIMEDOUT, not in flight forever", () => {
  // The netlink package rejects a request that passed its `timeout` option with this text.
  assert.equal(errorCode(new Error("Timeout has been reached")), "ETIMEDOUT");
  assert.equal(errorCode(new Error("Request rejected: EPERM")), "EPERM");
});

/**
 * The kernel's dumps (a compare's refresh) end only when the test calls the returned functions, in order:
 * the dump of 10,000 addresses is read over many loop turns.
 */
function heldDumps(k: FakeKernel): Array<() => void> {
  const dumps: Array<() => void> = [];
  const refresh = (k.watch as unknown as { refresh: () => Promise<boolean> }).refresh;
  Object.assign(k.watch, {
    refresh: () => new Promise<boolean>((resolve) => dumps.push(() => void refresh().then(resolve))),
  });
  return dumps;
}

test("a periodic compare's dump does not hold back a pass: a new VIP is added while the dump is still read", async () => {
  const k = new FakeKernel();
  const dumps = heldDumps(k);
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 20 });
  await until("a compare under way", () => r.verifies > 0);
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  assert.equal(k.kernel.size, 1, "added while the dump was still being read");
  assert.equal(dumps.length, 1, "one dump at a time, however many intervals pass");
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(dumps.length, 1, "still one: the next compare waits for it");
  dumps[0]();
  await until("the next compare", () => dumps.length === 2);
  dumps[1]();
  assert.equal(r.observed("198.51.100.1"), true);
  r.stop();
});

test("while a compare's dump holds notifications back, acknowledged adds are not redone; the dump's end settles them", async () => {
  const k = new FakeKernel();
  const dumps = heldDumps(k);
  // The clock cannot expire anything here: only the dumps can.
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 20, unconfirmedMs: 60_000 });
  await until("a compare under way", () => r.verifies > 0);
  // The watch is held by the dump: the adds land, their notifications wait.
  k.notify = false;
  const vips = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
  await r.setWanted(new Map(vips.map((ip) => [ip, "eth0"])));
  assert.equal(k.adds, 3);
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 40));
    await r.apply();
  }
  assert.equal(k.adds, 3, "no add redone while the dump holds the notifications");
  // The last one is lost meanwhile (deleted, its notification lost too): nothing overtakes it, and the
  // clock would take a minute; a dump that started after its acknowledgement finds it.
  k.kernel.delete(key("198.51.100.3", eth0.index));
  let ended = 0;
  const endDumps = (): void => {
    while (ended < dumps.length) dumps[ended++]?.();
  };
  await until("the lost one re-added", () => {
    endDumps();
    return k.adds === 4 && r.observed("198.51.100.3");
  });
  for (const ip of vips) assert.equal(r.observed(ip), true, `${ip} observed after the dump`);
  assert.equal(k.adds, 4, "only the lost address was added again");
  r.stop();
});

test("a compare that found a dump under way (no dump of its own) expires nothing", async () => {
  const k = new FakeKernel();
  const dumps: Array<() => void> = [];
  // Every compare reports "no dump of mine ran": the view may still lack our changes.
  Object.assign(k.watch, {
    refresh: () => new Promise<boolean>((resolve) => dumps.push(() => resolve(false))),
  });
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 20, unconfirmedMs: 60_000 });
  await until("a compare under way", () => r.verifies > 0);
  k.notify = false;
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  assert.equal(k.adds, 1);
  let ended = 0;
  await until("three compares ended", () => {
    while (ended < dumps.length) dumps[ended++]?.();
    return ended >= 3;
  });
  await r.apply();
  assert.equal(k.adds, 1, "the unconfirmed add was kept: nothing proved it lost");
  r.stop();
});

test("an outside delete between our add's notification and its acknowledgement is repaired at once", async () => {
  const k = new FakeKernel();
  k.deleteBeforeAck = true;
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 0, unconfirmedMs: 60_000 });
  await r.setWanted(new Map([["198.51.100.1", "eth0"]]));
  k.deleteBeforeAck = false;
  await until("re-added", () => r.observed("198.51.100.1"), 1000);
  assert.equal(k.adds, 2, "added again after the delete, not taken for our add still on its way");
  r.stop();
});

test("notifications that overtake their acknowledgements are ours: a batch of adds costs one pass, not one more per loop turn", async () => {
  const k = new FakeKernel(); // its kernel notifies before it acknowledges, as a busy host often does
  const r = new AddressApplier(k.watch, k.addresses, () => {}, { verifyMs: 0 });
  const vips = Array.from({ length: 50 }, (_, i) => `198.51.100.${i + 1}`);
  await r.setWanted(new Map(vips.map((ip) => [ip, "eth0"])));
  await new Promise((resolve) => setImmediate(resolve));
  await r.settled();
  assert.equal(k.adds, 50);
  assert.equal(r.passes, 1, "the adds' own notifications asked for no pass");
  for (const ip of vips) assert.equal(r.observed(ip), true);
  // A stranger's change still brings a pass (and its repair).
  k.set("del", "198.51.100.7");
  await until("repaired", () => r.observed("198.51.100.7"));
  assert.equal(r.passes, 2);
  assert.equal(k.adds, 51);
  r.stop();
});

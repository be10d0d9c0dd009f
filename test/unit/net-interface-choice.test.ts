import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseInterface, chooseInterfaceIn, interfaceContext } from "../../lib/net/interface-choice";
import { VIPD_ADDRESS_PROTO, type AddressInfo, type LinkInfo } from "../../lib/net/links";

const link = (index: number, name: string, extra: Partial<LinkInfo> = {}): LinkInfo => ({
  index,
  name,
  mac: `02:00:00:00:00:0${index}`,
  up: true,
  noarp: false,
  loopback: false,
  operstate: "up",
  carrier: true,
  kind: "",
  ...extra,
});
const addr = (index: number, cidr: string, extra: Partial<AddressInfo> = {}): AddressInfo => {
  const [ip, prefix] = cidr.split("/");
  return {
    index,
    family: ip.includes(":") ? 6 : 4,
    ip,
    prefixlen: Number(prefix),
    proto: 0,
    tentative: false,
    dadfailed: false,
    nodad: false,
    ...extra,
  };
};

const links = [
  link(1, "lo", { loopback: true, operstate: "unknown" }),
  link(2, "eth0"),
  link(3, "eth1"),
  link(4, "bond0", { kind: "bond" }),
  link(5, "eth2", { master: 4 }),
  link(6, "eth3", { up: false, operstate: "down" }),
  link(7, "eth4", { carrier: false, operstate: "lowerlayerdown" }),
  link(8, "tun0", { noarp: true, operstate: "unknown" }),
];
const addresses = [
  addr(1, "127.0.0.1/8"),
  addr(2, "198.51.100.1/24"),
  addr(3, "198.51.100.129/25"),
  addr(2, "2001:db8:100::1/64"),
  addr(4, "203.0.113.1/24"),
  addr(5, "192.0.2.1/24"),
  addr(6, "10.9.0.1/24"),
  addr(7, "10.7.0.1/24"),
  addr(8, "10.8.0.1/24"),
  addr(2, "198.51.100.200/32", { proto: VIPD_ADDRESS_PROTO }),
  addr(2, "10.10.0.1/24", { dadfailed: true }),
];

const cases: Array<{
  name: string;
  vip: string;
  advertised?: string[];
  expect: ReturnType<typeof chooseInterface>;
}> = [
  { name: "subnet match", vip: "198.51.100.50", expect: { eligible: true, interfaces: ["eth0"] } },
  { name: "longest prefix wins", vip: "198.51.100.150", expect: { eligible: true, interfaces: ["eth1"] } },
  { name: "IPv6 subnet", vip: "2001:db8:100::50", expect: { eligible: true, interfaces: ["eth0"] } },
  {
    name: "bond master holds the subnet",
    vip: "203.0.113.9",
    expect: { eligible: true, interfaces: ["bond0"] },
  },
  {
    name: "address on an enslaved port does not count",
    vip: "192.0.2.9",
    expect: { eligible: false, reason: "no interface with a subnet containing 192.0.2.9" },
  },
  {
    name: "no subnet",
    vip: "198.18.0.5",
    expect: { eligible: false, reason: "no interface with a subnet containing 198.18.0.5" },
  },
  {
    // The marked /32 on eth0 would be the longest prefix; the /25 on eth1 must win instead.
    name: "our own /32 does not vouch for itself",
    vip: "198.51.100.200",
    expect: { eligible: true, interfaces: ["eth1"] },
  },
  {
    name: "admin down",
    vip: "10.9.0.5",
    expect: {
      eligible: false,
      reason: "interface eth3 has a subnet containing 10.9.0.5 but is not usable (administratively down)",
    },
  },
  {
    name: "no carrier",
    vip: "10.7.0.5",
    expect: {
      eligible: false,
      reason: "interface eth4 has a subnet containing 10.7.0.5 but is not usable (no carrier)",
    },
  },
  {
    name: "NOARP",
    vip: "10.8.0.5",
    expect: {
      eligible: false,
      reason: "interface tun0 has a subnet containing 10.8.0.5 but is not usable (NOARP)",
    },
  },
  {
    name: "dadfailed address ignored",
    vip: "10.10.0.5",
    expect: { eligible: false, reason: "no interface with a subnet containing 10.10.0.5" },
  },
  {
    name: "listed interfaces: existing and up ones, in order, ports mapped to their master",
    vip: "198.18.0.5",
    advertised: ["eth1", "nope", "eth3", "eth2", "bond0"],
    expect: { eligible: true, interfaces: ["eth1", "bond0"] },
  },
  {
    name: "listed interfaces all unusable",
    vip: "198.51.100.50",
    advertised: ["eth3", "nope"],
    expect: { eligible: false, reason: "none of the advertised interfaces (eth3, nope) exists and is up" },
  },
  { name: "not an IP", vip: "bogus", expect: { eligible: false, reason: "bogus is not an IP address" } },
];

for (const c of cases) {
  test(`chooseInterface: ${c.name}`, () => {
    assert.deepEqual(chooseInterface(c.vip, links, addresses, c.advertised ?? []), c.expect);
  });
}

test("chooseInterfaceIn: one prepared context gives every case the same answer as chooseInterface", () => {
  const context = interfaceContext(links, addresses);
  for (const c of cases)
    assert.deepEqual(chooseInterfaceIn(context, c.vip, c.advertised ?? []), c.expect, c.name);
  // VIPs that land on the same link share one frozen choice (10,000 VIPs, one object).
  const a = chooseInterfaceIn(context, "198.51.100.10", []);
  const b = chooseInterfaceIn(context, "198.51.100.11", []);
  assert.equal(a, b);
  assert.ok(Object.isFrozen(a));
});

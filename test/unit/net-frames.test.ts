import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ARP_REPLY,
  ARP_REQUEST,
  buildArpFrame,
  gratuitousArpFrames,
  parseArpFrame,
} from "../../lib/net/arp-frame";
import {
  allNodesIcmpv6Frame,
  buildNeighborAdvertisement,
  icmpv6Checksum,
  parseNeighborAdvertisementFrame,
  unsolicitedNeighborAdvertisement,
  unsolicitedNeighborAdvertisementFrame,
} from "../../lib/net/ndp-frame";
import { formatValue, parseIp } from "../../lib/ip";
import { rt } from "netlink";
import { addressFromPayload, linkKind } from "../../lib/net/rtnl-convert";
import { bytesToIp, bytesToMac, ipToBytes, macToBytes, writeIp, writeMac } from "../../lib/net/wire";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

test("gratuitous ARP request and reply, byte by byte", () => {
  const [request, reply] = gratuitousArpFrames("198.51.100.50", "02:00:00:00:01:02");
  const common = "ffffffffffff 020000000102 0806 0001 0800 06 04";
  const pad = "00".repeat(18);
  assert.deepEqual(request, hex(`${common} 0001 020000000102 c6336432 000000000000 c6336432 ${pad}`));
  assert.deepEqual(reply, hex(`${common} 0002 020000000102 c6336432 020000000102 c6336432 ${pad}`));
  assert.equal(request.length, 60);
});

test("ARP frames round-trip through the parser; non-ARP frames are rejected", () => {
  const frame = {
    destination: "02:00:00:00:00:c8",
    source: "02:00:00:00:01:01",
    operation: ARP_REPLY,
    senderMac: "02:00:00:00:01:01",
    senderIp: "198.51.100.1",
    targetMac: "02:00:00:00:00:c8",
    targetIp: "198.51.100.200",
  };
  assert.deepEqual(parseArpFrame(buildArpFrame(frame)), frame);
  const [request] = gratuitousArpFrames("203.0.113.9", "02:aa:bb:cc:dd:ee");
  assert.equal(parseArpFrame(request)?.operation, ARP_REQUEST);
  const ipv6 = Buffer.from(request);
  ipv6.writeUInt16BE(0x86dd, 12);
  assert.equal(parseArpFrame(ipv6), undefined);
  assert.equal(parseArpFrame(request.subarray(0, 41)), undefined);
});

test("unsolicited NA: type 136, Override only, target and Target LLA option", () => {
  const na = unsolicitedNeighborAdvertisement("2001:db8:100::50", "02:00:00:00:01:02");
  assert.deepEqual(na, hex(`88 00 0000 20000000 20010db8010000000000000000000050 02 01 020000000102`));
  const flags = buildNeighborAdvertisement({ router: true, solicited: true, override: false, target: "::1" });
  assert.equal(flags.length, 24);
  assert.equal(flags[4], 0xc0);
});

test("ICMPv6 checksum matches a hand-checked value and verifies to zero", () => {
  const message = unsolicitedNeighborAdvertisement("2001:db8:100::50", "02:00:00:00:01:02");
  const sum = icmpv6Checksum("fe80::1:2", "ff02::1", message);
  const withSum = Buffer.from(message);
  withSum.writeUInt16BE(sum, 2);
  // Summing a message that carries its own checksum gives 0xffff, so the complement is 0.
  assert.equal(icmpv6Checksum("fe80::1:2", "ff02::1", withSum), 0);
  assert.notEqual(sum, 0);
});

test("NA frames parse with the IPv6 header fields", () => {
  const icmp = unsolicitedNeighborAdvertisement("2001:db8:100::50", "02:00:00:00:01:02");
  const ipHeader = Buffer.alloc(40);
  ipHeader.writeUInt32BE(0x60000000, 0);
  ipHeader.writeUInt16BE(icmp.length, 4);
  ipHeader[6] = 58;
  ipHeader[7] = 255;
  ipToBytes("fe80::1:2", 6).copy(ipHeader, 8);
  ipToBytes("ff02::1", 6).copy(ipHeader, 24);
  const frame = Buffer.concat([
    macToBytes("33:33:00:00:00:01"),
    macToBytes("02:00:00:00:01:02"),
    hex("86dd"),
    ipHeader,
    icmp,
  ]);
  const parsed = parseNeighborAdvertisementFrame(frame);
  assert.ok(parsed);
  assert.equal(parsed.destinationIp, "ff02::1");
  assert.equal(parsed.sourceIp, "fe80::1:2");
  assert.equal(parsed.hopLimit, 255);
  assert.equal(parsed.target, "2001:db8:100::50");
  assert.equal(parsed.targetMac, "02:00:00:00:01:02");
  assert.deepEqual([parsed.router, parsed.solicited, parsed.override], [false, false, true]);
});

test("whole NA frame: Ethernet to 33:33:00:00:00:01, IPv6 to ff02::1 with hop limit 255, checksum filled", () => {
  const icmp = unsolicitedNeighborAdvertisement("2001:db8:100::50", "02:00:00:00:01:02");
  const frame = allNodesIcmpv6Frame("02:00:00:00:01:02", "fe80::1:2", icmp);
  assert.equal(frame.length, 14 + 40 + 32);
  assert.deepEqual(
    frame.subarray(0, 54),
    hex(
      `333300000001 020000000102 86dd 60000000 0020 3a ff fe800000000000000000000000010002 ff020000000000000000000000000001`,
    ),
  );
  const parsed = parseNeighborAdvertisementFrame(frame);
  assert.ok(parsed);
  const zeroed = Buffer.from(parsed.icmp);
  zeroed.writeUInt16BE(0, 2);
  assert.equal(parsed.checksum, icmpv6Checksum("fe80::1:2", "ff02::1", zeroed));
  assert.deepEqual(zeroed, icmp, "the message itself is unchanged");
});

test("template-built frames: the same bytes as built field by field, for many VIPs, MACs and sources", () => {
  const macs = ["02:00:00:00:01:02", "02:aa:bb:cc:dd:ee"];
  for (let i = 0; i < 300; i++) {
    const mac = macs[i % 2] as string;
    const v4 = `198.51.100.${i % 256}`;
    const [request, reply] = gratuitousArpFrames(v4, mac);
    const common = {
      destination: "ff:ff:ff:ff:ff:ff",
      source: mac,
      senderMac: mac,
      senderIp: v4,
      targetIp: v4,
    };
    assert.deepEqual(
      request,
      buildArpFrame({ ...common, operation: ARP_REQUEST, targetMac: "00:00:00:00:00:00" }),
    );
    assert.deepEqual(reply, buildArpFrame({ ...common, operation: ARP_REPLY, targetMac: mac }));
    const v6 = `2001:db8:${((i * 7919) % 65536).toString(16)}::${((i * 104729) % 65536).toString(16)}`;
    const source = i % 3 === 0 ? "fe80::1:2" : "fe80::aa:1";
    const frame = unsolicitedNeighborAdvertisementFrame(v6, mac, source);
    assert.deepEqual(frame, allNodesIcmpv6Frame(mac, source, unsolicitedNeighborAdvertisement(v6, mac)));
    assert.equal(parseNeighborAdvertisementFrame(frame)?.target, bytesToIp(ipToBytes(v6, 6)));
  }
  // Frames of one VIP stay as built when the next VIP's are made from the same template.
  const [first] = gratuitousArpFrames("198.51.100.1", "02:00:00:00:01:02");
  gratuitousArpFrames("198.51.100.2", "02:00:00:00:01:02");
  assert.equal(parseArpFrame(first)?.senderIp, "198.51.100.1");
  assert.throws(() => gratuitousArpFrames("198.51.100.256", "02:00:00:00:01:02"), /not an IPv4 address/);
  assert.throws(() => unsolicitedNeighborAdvertisementFrame("2001:db8::g", "02:00:00:00:01:02", "fe80::1"));
});

test("writeIp and writeMac write in place what ipToBytes and macToBytes return", () => {
  const target = Buffer.alloc(24, 0xee);
  writeIp(target, 2, "203.0.113.7", 4);
  assert.deepEqual(target.subarray(2, 6), ipToBytes("203.0.113.7", 4));
  writeIp(target, 6, "2001:db8::1", 6);
  assert.deepEqual(target.subarray(6, 22), ipToBytes("2001:db8::1", 6));
  assert.equal(target[0], 0xee);
  assert.equal(target[22], 0xee);
  writeMac(target, 0, "02:aa:bb:cc:dd:ee");
  assert.deepEqual(target.subarray(0, 6), macToBytes("02:aa:bb:cc:dd:ee"));
  // A leading zero and a fifth part are not plain forms: the strict parser decides (and rejects).
  assert.throws(() => writeIp(target, 0, "1.2.3.4.5", 4), /not an IPv4 address/);
  assert.throws(() => writeMac(target, 0, "02:aa:bb"), /invalid MAC/);
});

test("ipToBytes agrees with the strict parser (lib/ip) on plain, compressed, mapped and malformed forms", () => {
  const strict = (text: string, family: 4 | 6): string => {
    const ip = parseIp(text);
    if (!ip || ip.family !== family) return "error";
    return ip.value.toString(16).padStart(family === 4 ? 8 : 32, "0");
  };
  const cases = [
    "1.2.3.4",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "0.0.0.0",
    "0.10.100.0",
    "9.99.199.249",
    "198.18.64.1",
    "1.2.3",
    "1.2.3.4.5",
    "1..2.3",
    ".1.2.3",
    "1.2.3.",
    "1.2.3.04",
    "00.1.2.3",
    "1000.1.1.1",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.-4",
    "1.2.3.4/32",
    "",
    "::",
    "::1",
    "1::",
    "2001:db8::1",
    "2001:db8:0:0:0:0:0:1",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    ":1",
    "1:",
    "::ffff:1.2.3.4",
    "::ffff:102:304",
    "fe80::1%eth0",
    "12345::1",
    "::g",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    " ::1",
    "FE80::A",
    "1:::2",
    ":1::2",
    ":",
    ":::",
    "1:2",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4::5:6:7:8",
    "1::2:",
    "::ffff:0:0",
    "::ffff:0:1",
    "0:0:0:0:0:ffff:0:0",
    "2001:db8:100::1:0",
    "a:b:c:d:e:f:0:1",
    "::0:0",
    "00000::1",
    "1::0001",
  ];
  for (const text of cases) {
    for (const family of [4, 6] as const) {
      let fast: string;
      try {
        fast = ipToBytes(text, family).toString("hex");
      } catch {
        fast = "error";
      }
      assert.equal(fast, strict(text, family), `${JSON.stringify(text)} as IPv${family}`);
    }
  }
});

test("ipToBytes: random IPv6 addresses in every text form lib/ip writes and compressions of them", () => {
  for (let i = 0; i < 2000; i++) {
    // Runs of zero groups, so `::` lands anywhere.
    const groups = Array.from({ length: 8 }, () =>
      Math.random() < 0.4 ? 0 : Math.floor(Math.random() * 65536),
    );
    const full = groups.map((g) => g.toString(16)).join(":");
    const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
    for (const text of [full, formatValue(6, value), full.toUpperCase()]) {
      const ip = parseIp(text);
      const expected = ip?.family === 6 ? ip.value.toString(16).padStart(32, "0") : "error";
      let fast: string;
      try {
        fast = ipToBytes(text, 6).toString("hex");
      } catch {
        fast = "error";
      }
      assert.equal(fast, expected, text);
    }
  }
});

test("bytesToMac: lower-case hex pairs of the first 6 bytes, for any bytes", () => {
  assert.equal(bytesToMac(Buffer.from("020000000a0bff", "hex")), "02:00:00:00:0a:0b");
  for (let i = 0; i < 500; i++) {
    const bytes = Buffer.from(Array.from({ length: 6 }, () => Math.floor(Math.random() * 256)));
    const reference = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(":");
    assert.equal(bytesToMac(bytes), reference);
    assert.deepEqual(macToBytes(bytesToMac(bytes)), bytes, "round trip");
  }
});

test("wire helpers reject malformed input", () => {
  assert.throws(() => macToBytes("02:00:00:00:01"));
  assert.throws(() => ipToBytes("2001:db8::1", 4));
  assert.equal(bytesToIp(ipToBytes("2001:db8::1", 6)), "2001:db8::1");
});

test("IFLA_INFO_KIND out of a nested linkinfo attribute", () => {
  const linkinfo = hex("0b00 0100 626f6e6400 0000 0800 0200 00000000");
  assert.equal(linkKind(linkinfo), "bond");
});

/** An RTM_NEWADDR payload: struct ifaddrmsg, then attributes (type, value), each padded to 4 bytes. */
function ifaddr(
  family: number,
  prefixlen: number,
  flags: number,
  index: number,
  attrs: [number, Buffer][],
): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt8(family, 0);
  header.writeUInt8(prefixlen, 1);
  header.writeUInt8(flags, 2);
  header.writeUInt32LE(index, 4);
  const parts = attrs.map(([type, value]) => {
    const attr = Buffer.alloc((4 + value.length + 3) & ~3);
    attr.writeUInt16LE(4 + value.length, 0);
    attr.writeUInt16LE(type, 2);
    value.copy(attr, 4);
    return attr;
  });
  return Buffer.concat([header, ...parts]);
}
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
};

test("address notifications: read from the raw payload, as the netlink package reads them, plus IFA_PROTO", () => {
  const [LOCAL, ADDRESS, LABEL, CACHEINFO, FLAGS, PROTO] = [2, 1, 3, 6, 8, 11];
  const cases: { payload: Buffer; expected: Record<string, unknown> }[] = [
    {
      // IPv4 as the kernel sends it: IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS (permanent), IFA_CACHEINFO.
      payload: ifaddr(2, 32, 0x80, 3, [
        [ADDRESS, ipToBytes("198.51.100.9", 4)],
        [LOCAL, ipToBytes("198.51.100.9", 4)],
        [LABEL, Buffer.from("eth0\0")],
        [FLAGS, u32(0x80)],
        [CACHEINFO, Buffer.alloc(16)],
        [PROTO, Buffer.from([0x56])],
      ]),
      expected: { index: 3, family: 4, ip: "198.51.100.9", prefixlen: 32, proto: 0x56, label: "eth0" },
    },
    {
      // A point-to-point peer: IFA_LOCAL is ours, IFA_ADDRESS the peer's.
      payload: ifaddr(2, 32, 0, 4, [
        [ADDRESS, ipToBytes("203.0.113.2", 4)],
        [LOCAL, ipToBytes("203.0.113.1", 4)],
      ]),
      expected: { index: 4, family: 4, ip: "203.0.113.1", prefixlen: 32, proto: 0 },
    },
    {
      // IPv6 VIP: nodad | noprefixroute in IFA_FLAGS (NOPREFIXROUTE does not fit the 8-bit field).
      payload: ifaddr(10, 128, 0x02, 2, [
        [ADDRESS, ipToBytes("2001:db8::1:5", 6)],
        [FLAGS, u32(0x202)],
        [PROTO, Buffer.from([0x56])],
      ]),
      expected: { index: 2, family: 6, ip: "2001:db8::1:5", prefixlen: 128, proto: 0x56, nodad: true },
    },
    {
      // Only the 8-bit flags: tentative.
      payload: ifaddr(10, 64, 0x40, 2, [[ADDRESS, ipToBytes("2001:db8::7", 6)]]),
      expected: { index: 2, family: 6, ip: "2001:db8::7", prefixlen: 64, proto: 0, tentative: true },
    },
    {
      // IFA_FLAGS supersedes the 8-bit field: dadfailed, not tentative.
      payload: ifaddr(10, 128, 0x40, 2, [
        [ADDRESS, ipToBytes("2001:db8::8", 6)],
        [FLAGS, u32(0x08)],
      ]),
      expected: { index: 2, family: 6, ip: "2001:db8::8", prefixlen: 128, proto: 0, dadfailed: true },
    },
  ];
  for (const { payload, expected } of cases) {
    const got = addressFromPayload(payload);
    assert.deepEqual(got, {
      label: undefined,
      tentative: false,
      dadfailed: false,
      nodad: false,
      ...expected,
    });
    // The same fields as the netlink package reads them.
    const { data, attrs } = rt.parseAddressMessage(payload);
    const flags = attrs.flags ?? data.flags ?? {};
    const bytes = attrs.local ?? attrs.address;
    assert.ok(bytes);
    assert.deepEqual(
      { ...got, proto: 0 },
      {
        index: data.index,
        family: data.family === 2 ? 4 : 6,
        ip: bytesToIp(bytes),
        prefixlen: data.prefixlen,
        proto: 0,
        label: attrs.label,
        tentative: flags.tentative === true,
        dadfailed: flags.dadfailed === true,
        nodad: flags.nodad === true,
      },
    );
  }
  // Not an address vipd can use: another family, no address, an address of the wrong length, truncated.
  assert.equal(addressFromPayload(ifaddr(17, 0, 0, 2, [[ADDRESS, Buffer.alloc(6)]])), undefined);
  assert.equal(addressFromPayload(ifaddr(2, 32, 0, 2, [[LABEL, Buffer.from("eth0\0")]])), undefined);
  assert.equal(addressFromPayload(ifaddr(10, 128, 0, 2, [[ADDRESS, Buffer.alloc(4)]])), undefined);
  const whole = ifaddr(2, 32, 0, 2, [[LOCAL, ipToBytes("198.51.100.9", 4)]]);
  assert.equal(addressFromPayload(whole.subarray(0, whole.length - 2)), undefined);
  assert.equal(addressFromPayload(Buffer.alloc(4)), undefined);
});

test("bytesToIp: IPv4 texts from the cache are the canonical form, IPv6 too", () => {
  for (const text of ["0.0.0.0", "198.51.100.9", "255.255.255.255", "203.0.113.200"]) {
    assert.equal(bytesToIp(ipToBytes(text, 4)), text);
    assert.equal(bytesToIp(ipToBytes(text, 4)), text, "second time, from the cache");
  }
  assert.equal(bytesToIp(ipToBytes("2001:db8:0:0:1::5", 6)), "2001:db8::1:0:0:5");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalIp, cidrsOverlap, formatCidr, parseCidr, parseIp, summarizeRange } from "../../lib/ip";

test("parseIp accepts canonical forms and rejects the rest", () => {
  const cases: [string, string | undefined][] = [
    ["192.168.10.6", "192.168.10.6"],
    ["2001:DB8::0:1", "2001:db8::1"],
    ["::ffff:198.51.100.1", "198.51.100.1"],
    ["010.1.1.1", undefined],
    ["1.2.3", undefined],
    [" 1.2.3.4", undefined],
    ["fe80::1%eth0", undefined],
    ["", undefined],
    ["garbage", undefined],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
});

test("parseCidr masks host bits and rejects oversize prefixes", () => {
  const cases: [string, string | undefined][] = [
    ["192.168.1.5/24", "192.168.1.0/24"],
    ["192.168.10.6/32", "192.168.10.6/32"],
    ["192.168.1.0/33", undefined],
    ["2001:db8::1/64", "2001:db8::/64"],
    ["2001:db8::/129", undefined],
    ["192.168.1.0", undefined],
    ["192.168.1.0/abc", undefined],
  ];
  for (const [input, want] of cases) {
    const c = parseCidr(input);
    assert.equal(c ? formatCidr(c) : undefined, want, input);
  }
});

test("summarizeRange gives the minimal covering CIDRs", () => {
  const cases: [string, string, string[]][] = [
    [
      "192.168.10.50",
      "192.168.10.60",
      ["192.168.10.50/31", "192.168.10.52/30", "192.168.10.56/30", "192.168.10.60/32"],
    ],
    ["0.0.0.0", "255.255.255.255", ["0.0.0.0/0"]],
    ["2001:db8::", "2001:db8::3", ["2001:db8::/126"]],
    ["10.0.0.2", "10.0.0.1", []],
  ];
  for (const [a, b, want] of cases) {
    const got = summarizeRange(parseIp(a)!, parseIp(b)!).map(formatCidr);
    assert.deepEqual(got, want, `${a}-${b}`);
  }
});

test("cidrsOverlap follows MetalLB's containment rule", () => {
  const cases: [string, string, boolean][] = [
    ["10.0.0.0/24", "10.0.0.128/25", true],
    ["10.0.0.0/24", "10.0.0.0/24", true],
    ["10.0.0.0/25", "10.0.0.128/25", false],
    ["10.0.0.0/24", "2001:db8::/64", false],
  ];
  for (const [a, b, want] of cases)
    assert.equal(cidrsOverlap(parseCidr(a)!, parseCidr(b)!), want, `${a} ~ ${b}`);
});

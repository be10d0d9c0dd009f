// lib/ipv6-text.ts, and lib/ip.ts's IPv4 parse, against ipaddr.js, which lib/ip.ts used for every text before:
// the same addresses accepted, the same values, the same RFC 5952 texts; parseIp's results agree either way.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { formatIpv6, parseIpv6Groups } from "../../lib/ipv6-text";
import { formatValue, parseIp, type Ip } from "../../lib/ip";

const bytesValue = (bytes: readonly number[]): bigint => bytes.reduce((v, b) => (v << 8n) | BigInt(b), 0n);

/** ipaddr.js's answer for a hex-group text: its value, or undefined when it refuses it. */
function ipaddrValue(text: string): bigint | undefined {
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  return bytesValue(ipaddr.IPv6.parse(text).toByteArray());
}

/** lib/ip.ts's parse before lib/ipv6-text.ts, for texts with a colon. */
function ipaddrParseIp(text: string): Ip | undefined {
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  const addr = ipaddr.IPv6.parse(text);
  if (addr.isIPv4MappedAddress()) return { family: 4, value: bytesValue(addr.toIPv4Address().toByteArray()) };
  return { family: 6, value: bytesValue(addr.toByteArray()) };
}

const groupValues = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), {
  minLength: 8,
  maxLength: 8,
});

/** A text of `groups` as people write them: any case, leading zeros, one zero run (or none) as "::". */
const writtenForms = groupValues.chain((groups) =>
  fc
    .record({
      upper: fc.boolean(),
      pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
      compress: fc.option(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 1, max: 8 }))),
    })
    .map(({ upper, pad, compress }) => {
      const hex = groups.map((g, i) => {
        const digits = g.toString(16);
        const padded = "0".repeat(Math.max(0, Math.min(pad[i] ?? 0, 4 - digits.length))) + digits;
        return upper ? padded.toUpperCase() : padded;
      });
      const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
      if (compress === null) return { text: hex.join(":"), value };
      const [start, wanted] = compress;
      let end = start;
      while (end < 8 && end - start < wanted && groups[end] === 0) end++;
      if (end === start) return { text: hex.join(":"), value };
      return { text: `${hex.slice(0, start).join(":")}::${hex.slice(end).join(":")}`, value };
    }),
);

test("hex-group texts as written: the value ipaddr.js reads", () => {
  fc.assert(
    fc.property(writtenForms, ({ text, value }) => {
      assert.equal(parseIpv6Groups(text), value, text);
      assert.equal(ipaddrValue(text), value, text);
    }),
    { numRuns: 3000 },
  );
});

test("any text of hex digits and colons: accepted exactly when ipaddr.js accepts it, with its value", () => {
  const chars = fc.constantFrom(..."0123456789abcdefABCDEF", ":", ":", ":", ":", "0", "0");
  fc.assert(
    fc.property(fc.string({ unit: chars, maxLength: 44 }), (text) => {
      assert.equal(parseIpv6Groups(text), ipaddrValue(text), JSON.stringify(text));
    }),
    { numRuns: 20000 },
  );
  // Mutations of valid texts: one character inserted, dropped or doubled.
  fc.assert(
    fc.property(writtenForms, fc.nat(), fc.constantFrom(":", "0", "f", "::", ""), ({ text }, at, insert) => {
      const i = at % (text.length + 1);
      for (const mutated of [text.slice(0, i) + insert + text.slice(i), text.slice(0, i) + text.slice(i + 1)])
        assert.equal(parseIpv6Groups(mutated), ipaddrValue(mutated), JSON.stringify(mutated));
    }),
    { numRuns: 5000 },
  );
});

test("edge cases", () => {
  for (const text of ["::", "::1", "1::", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "0:0:0:0:0:0:0:0", "FFFF::"])
    assert.equal(parseIpv6Groups(text), ipaddrValue(text), text);
  for (const text of [
    "",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1::2:3:4:5:6:7:8",
    "12345::",
    ":1::",
    "1:2",
  ])
    assert.equal(parseIpv6Groups(text), undefined, text);
});

test("RFC 5952 text: the same as ipaddr.js's", () => {
  fc.assert(
    fc.property(groupValues, (groups) => {
      const value = groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
      const bytes = groups.flatMap((g) => [g >> 8, g & 0xff]);
      assert.equal(formatIpv6(value), new ipaddr.IPv6(bytes).toRFC5952String());
      assert.equal(formatValue(6, value), formatIpv6(value));
    }),
    { numRuns: 5000 },
  );
  assert.equal(formatIpv6(0n), "::");
  assert.equal(formatIpv6(1n), "::1");
  assert.equal(formatIpv6(0x20010db8000000010000000000000001n), "2001:db8:0:1::1");
  assert.equal(formatIpv6(0x20010db8000000000001000000000001n), "2001:db8::1:0:0:1");
});

test("parseIp: hex texts, IPv4-mapped ones included, parse as they did through ipaddr.js", () => {
  fc.assert(
    fc.property(writtenForms, ({ text }) => {
      assert.deepEqual(parseIp(text), ipaddrParseIp(text), text);
    }),
    { numRuns: 2000 },
  );
  for (const text of [
    "::ffff:102:304",
    "::FFFF:c000:0201",
    "0:0:0:0:0:ffff:ffff:ffff",
    "::fffe:1:2",
    "::ffff:1.2.3.4",
  ])
    assert.deepEqual(parseIp(text), ipaddrParseIp(text), text);
  assert.deepEqual(parseIp("::ffff:102:304"), { family: 4, value: 0x01020304n });
});

/** lib/ip.ts's IPv4 parse before: the four-part-decimal pattern, then ipaddr.js. */
function ipaddrParseIpv4(text: string): Ip | undefined {
  if (!/^(0|[1-9]\d*)(\.(0|[1-9]\d*)){3}$/.test(text) || !ipaddr.IPv4.isValidFourPartDecimal(text))
    return undefined;
  return { family: 4, value: bytesValue(ipaddr.IPv4.parse(text).toByteArray()) };
}

test("parseIp: dotted IPv4 texts parse as they did through ipaddr.js", () => {
  const part = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map(String),
    fc.integer({ min: 0, max: 99999 }).map(String),
    fc.constantFrom("00", "01", "007", "", "-1", "1e2", "0x1", " 1", "99999999999999999999"),
  );
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
      const text = parts.join(".");
      assert.deepEqual(parseIp(text), ipaddrParseIpv4(text), JSON.stringify(text));
    }),
    { numRuns: 20000 },
  );
  assert.deepEqual(parseIp("198.51.100.7"), { family: 4, value: 0xc6336407n });
  assert.deepEqual(parseIp("255.255.255.255"), { family: 4, value: 0xffffffffn });
  for (const text of ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5"]) assert.equal(parseIp(text), undefined);
});

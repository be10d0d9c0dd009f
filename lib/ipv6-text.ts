// IPv6 text <-> value for the common form (hex groups and at most one "::", no embedded IPv4, no zone),
// without ipaddr.js. Its parser and its RFC 5952 formatter run regular expressions and build intermediate
// strings per address: with the code still cold at start-up, 1,000 IPv6 VIPs cost ~80 ms to parse and ~70 ms
// to format on this host, a third of loading a 1,000-service config. lib/ip.ts uses these and leaves the other
// forms (dotted IPv4 tails, zones) to ipaddr.js; test/unit/ipv6-text.test.ts checks both against ipaddr.js.

// Cold code runs in V8's interpreter, so the work per address is left to built-ins (split, a regular expression
// per group, BigInt of a hex text) rather than loops over characters in JavaScript.
// ipv6GroupsToBytes, at the end, reads the same form into bytes with such a loop: it serves the frames built per
// VIP at takeover, where the code is warm and the loop is the faster.
const GROUP = /^[0-9a-fA-F]{1,4}$/;
const isGroup = (group: string): boolean => GROUP.test(group);
const padGroup = (group: string): string => group.padStart(4, "0");

/**
 * The value of an IPv6 address written as hex groups with at most one "::" (RFC 4291 2.2, forms 1 and 2), or
 * undefined when `text` is not one: eight groups of 1-4 hex digits, or fewer around one "::" standing for at
 * least one zero group.
 */
export function parseIpv6Groups(text: string): bigint | undefined {
  const double = text.indexOf("::");
  let hex: string;
  if (double < 0) {
    const groups = text.split(":");
    if (groups.length !== 8 || !groups.every(isGroup)) return undefined;
    hex = groups.map(padGroup).join("");
  } else {
    if (text.indexOf("::", double + 1) >= 0) return undefined;
    const head = double === 0 ? [] : text.slice(0, double).split(":");
    const tail = double + 2 === text.length ? [] : text.slice(double + 2).split(":");
    if (head.length + tail.length > 7 || !head.every(isGroup) || !tail.every(isGroup)) return undefined;
    hex =
      head.map(padGroup).join("") +
      "0000".repeat(8 - head.length - tail.length) +
      tail.map(padGroup).join("");
  }
  return BigInt(`0x${hex}`);
}

/** RFC 5952 text of an IPv6 value: lower-case hex, no leading zeros, the first longest run of 2+ zero groups as "::". */
export function formatIpv6(value: bigint): string {
  const hex = value.toString(16).padStart(32, "0");
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = parseInt(hex.slice(i * 4, i * 4 + 4), 16);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(":");
  if (bestStart < 0) return text(0, 8);
  return `${text(0, bestStart)}::${text(bestStart + bestLength, 8)}`;
}

/**
 * The 16 network-order bytes of the same form parseIpv6Groups reads; undefined for other forms and for
 * IPv4-mapped addresses (family 4 to lib/ip.ts). The hot-path twin of parseIpv6Groups: frames are built per
 * VIP at takeover (lib/net/wire.ts's ipToBytes), where the code is warm and a loop over characters is ~8x
 * faster than the built-ins above plus a bigint (0.5 against 4.1 us an address here); split, a regex per
 * group and forEach were the largest part of building an NA (3,000 NAs, cpu-prof of bench/net).
 * test/unit/net-frames.test.ts checks it against the strict parser.
 */
export function ipv6GroupsToBytes(text: string): Buffer | undefined {
  const groups = IPV6_GROUPS;
  let count = 0;
  /** Where `::` stood: how many groups came before it; -1 without one. */
  let gap = -1;
  let value = 0;
  let digits = 0;
  const length = text.length;
  if (length < 2) return undefined;
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return undefined; // a lone leading ":"
    gap = 0;
    i = 2;
    if (i === length) return zeroFilled(groups, 0, 0);
  }
  for (; i <= length; i++) {
    const c = i < length ? text.charCodeAt(i) : 58; // a ":" closes the last group
    const hex = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (hex >= 0) {
      if (++digits > 4) return undefined;
      value = value * 16 + hex;
    } else if (c === 58) {
      if (digits === 0) return undefined;
      if (count === 8) return undefined;
      groups[count++] = value;
      value = 0;
      digits = 0;
      if (i + 1 < length && text.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return undefined; // a second "::"
        gap = count;
        i++;
        if (i + 1 === length) break; // a trailing "::"
      }
    } else return undefined;
  }
  if (gap < 0 ? count !== 8 : count > 7) return undefined;
  return zeroFilled(groups, count, gap);
}

/** Scratch for ipv6GroupsToBytes's groups (single-threaded use, read out before returning). */
const IPV6_GROUPS = new Array<number>(8).fill(0);

/** 16 bytes from `count` parsed groups with zeros at `gap` (-1: none); undefined for IPv4-mapped. */
function zeroFilled(groups: readonly number[], count: number, gap: number): Buffer | undefined {
  const out = Buffer.alloc(16);
  const before = gap < 0 ? count : gap;
  for (let g = 0; g < before; g++) out.writeUInt16BE(groups[g] as number, g * 2);
  const after = count - before;
  for (let g = 0; g < after; g++) out.writeUInt16BE(groups[before + g] as number, (8 - after + g) * 2);
  // ::ffff:0:0/96 is an IPv4 address to parseIp (Go's rule); leave it to the strict path.
  if (out.readUInt16BE(10) === 0xffff && out.subarray(0, 10).every((b) => b === 0)) return undefined;
  return out;
}

// IPv6 text <-> value for the common form (hex groups and at most one "::", no embedded IPv4, no zone),
// without ipaddr.js. Its parser and its RFC 5952 formatter run regular expressions and build intermediate
// strings per address: with the code still cold at start-up, 1,000 IPv6 VIPs cost ~80 ms to parse and ~70 ms
// to format on this host, a third of loading a 1,000-service config. lib/ip.ts uses these and leaves the other
// forms (dotted IPv4 tails, zones) to ipaddr.js; test/unit/ipv6-text.test.ts checks both against ipaddr.js.

// Cold code runs in V8's interpreter, so the work per address is left to built-ins (split, a regular expression
// per group, BigInt of a hex text) rather than loops over characters in JavaScript.
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

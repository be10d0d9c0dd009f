// MetalLB's messages are Go fmt output; these reproduce the two verbs they use on our data so that
// texts match byte for byte (operators grep for them, and MetalLB docs quote them).

/** Go's %q on a string. JSON escaping agrees with strconv.Quote for the printable text we quote. */
export function quoteGo(text: string): string {
  return JSON.stringify(text);
}

/** Go's %q on a []net.IP: `["192.168.1.1" "2001:db8::1"]`. */
export function quoteGoList(items: readonly string[]): string {
  return `[${items.map(quoteGo).join(" ")}]`;
}

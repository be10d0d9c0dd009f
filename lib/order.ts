// One string order for everything vipd sorts: code-unit order, which for the ASCII names and addresses it
// sorts is byte order, as Go's sort.Strings (and so MetalLB) uses. Never localeCompare: its order follows the
// process's locale (LANG, e.g. "ch" sorts after "h" in Czech), so two nodes could disagree on which service's
// IP elects a shared group or on an allocation digest; it is also slow, and loading ICU's collation data
// costs about 3 MB of RSS.
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

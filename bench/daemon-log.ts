// Reading a vipd node's JSON log lines in the benches: each phase of a failover or reload is timed from them.

/** The JSON log entries at or after `sinceWall` (wall ms, 1 ms slack for the log's resolution), with `at` parsed. */
export function logEntries(log: string, sinceWall: number): Array<Record<string, unknown> & { at: number }> {
  const out: Array<Record<string, unknown> & { at: number }> = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const at = Date.parse(String(entry.time));
    if (at >= sinceWall - 1) out.push({ ...entry, at });
  }
  return out;
}
